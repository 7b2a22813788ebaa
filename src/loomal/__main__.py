"""``python -m loomal``: the ``loomal`` command."""

from loomal.cli import main

main()
