"""Store implementations: embedded SQLite (default) and PostgreSQL."""

from __future__ import annotations

from importlib import resources

__all__ = ["load_migrations"]


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered ``NNNN_name.sql`` files of a dialect, in order."""
    folder = resources.files("loomal.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)
