"""What the README and the install docs say is true: every MCP tool is named, the
snippets run in order without making one identity twice, the PostgreSQL tests'
database is named, installs work without a registry that lacks the packages, and
request ids are described as they are made."""

from __future__ import annotations

import re
from pathlib import Path

from loomal.mcp.names import spelled
from loomal.mcp.tools import TOOLS
from tests.conftest import Api

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
SDK_DOCS = (ROOT / "docs" / "sdk.md").read_text()


def test_the_readme_names_every_mcp_tool() -> None:
    for tool in TOOLS:
        assert f"`{spelled(tool.name, 'underscore')}`" in README, tool.name


def test_the_readme_snippets_create_each_identity_once() -> None:
    shell = "".join(re.findall(r"^```sh\n(.*?)^```", README, flags=re.S | re.M))
    created = re.findall(r"loomal identity create (\S+)", shell)
    assert created and len(created) == len(set(created)), created


def test_the_readme_says_the_postgres_tests_need_a_test_database() -> None:
    assert "createdb -h 127.0.0.1 -U postgres test" in README


def test_installs_do_not_point_at_registries_that_lack_the_packages() -> None:
    for line in SDK_DOCS.splitlines():
        assert not re.match(r"pip install '?loomal-vault", line), line
        assert not line.startswith("npm install @loomal/sdk"), line
    assert "not published on PyPI" in SDK_DOCS
    assert "not published on the npm registry" in SDK_DOCS


def test_request_ids_are_made_as_the_docs_say(api: Api) -> None:
    ids = [api.client.get("/v0/health").headers["x-request-id"] for _ in range(3)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    assert len({i[:8] for i in ids}) == 1  # one random prefix per process
    counters = [int(i[8:], 16) for i in ids]
    assert counters == sorted(counters) and len(set(counters)) == 3
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "8 random digits" in operations and "8-digit counter" in operations
    assert "else a random 16-hex-digit id" not in operations
