"""``loomal vault request`` (an agent asks) and ``loomal requests
list|show|fulfill|decline`` (a person answers) against a real ``loomal serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, loomal, new_key, start_server

pytestmark = pytest.mark.slow  # starts a real server process


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], dict[str, str], Path]]:
    cwd = tmp_path_factory.mktemp("requests-cli")
    data_dir = str(cwd / "data")
    server: ServerProcess = start_server("--data-dir", data_dir, cwd=cwd)
    try:
        assert server.api_key is not None
        agent_key = new_key("add-key", "default", "--scopes", "vault:use", "--data-dir", data_dir,
                            cwd=cwd)  # fmt: skip
        agent = {"LOOMAL_API_URL": server.base_url, "LOOMAL_API_KEY": agent_key}
        person = {"LOOMAL_API_URL": server.base_url, "LOOMAL_API_KEY": server.api_key}
        yield agent, person, cwd
    finally:
        server.stop()


def test_an_agent_asks_and_a_person_answers_from_the_command_line(
    setup: tuple[dict[str, str], dict[str, str], Path],
) -> None:
    agent, person, cwd = setup
    reason = "Refund order 42\nfake-line  fulfilled"
    asked = loomal("vault", "request", "stripe", "--type", "api_key", "--reason", reason,
                   "--allowed-host", "api.stripe.com", "--json", cwd=cwd, env=agent)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    request_id = json.loads(asked.stdout)["requestId"]

    listed = loomal("requests", "list", "--status", "pending", cwd=cwd, env=person)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()  # the reason's line break cannot forge a line
    assert request_id in line and "stripe (API_KEY)" in line and "\\n" in line
    shown = loomal("requests", "show", request_id, cwd=cwd, env=person)
    assert "allowed hosts (the agent's choice): 'api.stripe.com'" in shown.stdout, shown.stdout

    refused = loomal("requests", "fulfill", request_id, "--data", '{"key": "sk_1"}',
                     cwd=cwd, env=agent)  # fmt: skip
    assert refused.returncode == 1 and "vault:write" in refused.stderr
    done = loomal("requests", "fulfill", request_id, "--data", "-", stdin='{"key": "sk_1"}',
                  cwd=cwd, env=person)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "fulfilled" in done.stdout and "sk_1" not in done.stdout
    shown = loomal("requests", "show", request_id, "--json", cwd=cwd, env=agent)
    assert json.loads(shown.stdout)["status"] == "fulfilled"
    got = loomal("vault", "get", "stripe", "--json", cwd=cwd, env=person)
    assert json.loads(got.stdout)["metadata"]["allowedHosts"] == ["api.stripe.com"]

    other = loomal("vault", "request", "smtp", "--type", "SMTP", "--reason", "alerts",
                   cwd=cwd, env=agent)  # fmt: skip
    assert "/requests/req_" in other.stdout, other.stdout
    other_id = other.stdout.split()[1]
    declined = loomal("requests", "decline", other_id, cwd=cwd, env=person)
    assert declined.returncode == 0 and "declined" in declined.stdout
    again = loomal("requests", "decline", other_id, cwd=cwd, env=person)
    assert again.returncode == 1 and "already answered" in again.stderr
