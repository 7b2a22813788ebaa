"""``loomal approvals list|approve|deny`` and ``loomal vault fetch --approval``
against a real ``loomal serve`` and a loopback upstream: the agent's held request
prints where to approve, a person approves from the command line, the agent's
repeat goes through once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from loomal import Loomal
from tests.conftest import ServerProcess, loomal, new_key, start_server
from tests.upstream import Upstream, running_upstream

pytestmark = pytest.mark.slow  # starts a real server process

RULES = [{"methods": ["DELETE"], "paths": ["/echo/*"], "approval": {"windowSeconds": 0}}]


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str], dict[str, str], Upstream, Path]]:
    cwd = tmp_path_factory.mktemp("approvals-cli")
    data_dir = str(cwd / "data")
    with running_upstream() as upstream:
        server = start_server("--data-dir", data_dir, "--fetch-allow-private", "127.0.0.1", cwd=cwd)
        try:
            with Loomal(api_key=server.api_key, base_url=server.base_url) as admin:
                admin.vault.store(
                    "crm",
                    type="API_KEY",
                    data={"key": "sk_live_" + "Cl1" * 10},
                    metadata={"allowedHosts": ["127.0.0.1"], "rules": RULES},
                )
            agent, person = (
                {
                    "LOOMAL_API_URL": server.base_url,
                    "LOOMAL_API_KEY": new_key(
                        "add-key", "default", "--scopes", scope, "--data-dir", data_dir, cwd=cwd
                    ),
                }
                for scope in ("vault:use", "vault:approve")
            )
            yield server, agent, person, upstream, cwd
        finally:
            server.stop()


def test_a_person_approves_from_the_command_line(
    setup: tuple[ServerProcess, dict[str, str], dict[str, str], Upstream, Path],
) -> None:
    _, agent, person, upstream, cwd = setup
    url = f"{upstream.base_url}/echo/1"
    held = loomal("vault", "fetch", "crm", url, "-X", "DELETE", cwd=cwd, env=agent)
    assert held.returncode == 1 and "/approvals/apr_" in held.stderr, held.stderr
    assert not upstream.seen

    listed = loomal("approvals", "list", "--status", "pending", "--json", cwd=cwd, env=person)
    assert listed.returncode == 0, listed.stderr
    (pending,) = json.loads(listed.stdout)["approvals"]
    assert (pending["method"], pending["path"]) == ("DELETE", "/echo/1")
    people = loomal("approvals", "list", cwd=cwd, env=person)
    assert pending["approvalId"] in people.stdout and "DELETE 127.0.0.1/echo/1" in people.stdout

    own = loomal("approvals", "approve", pending["approvalId"], cwd=cwd, env=agent)
    assert own.returncode == 1 and "vault:approve" in own.stderr
    approved = loomal("approvals", "approve", pending["approvalId"], cwd=cwd, env=person)
    assert approved.returncode == 0 and "approved" in approved.stdout, approved.stderr

    done = loomal(
        "vault",
        "fetch",
        "crm",
        url,
        "-X",
        "DELETE",
        "--approval",
        pending["approvalId"],
        "-i",
        cwd=cwd,
        env=agent,
    )
    assert done.returncode == 0 and done.stdout.startswith("HTTP 404"), done.stderr
    assert [s.method for s in upstream.seen] == ["DELETE"]

    again = loomal("vault", "fetch", "crm", url, "-X", "DELETE", cwd=cwd, env=agent)
    approval_id = again.stderr.split("/approvals/")[1].split(";")[0].split()[0]
    denied = loomal("approvals", "deny", approval_id, cwd=cwd, env=person)
    assert denied.returncode == 0 and "denied" in denied.stdout
    refused = loomal(
        "vault", "fetch", "crm", url, "-X", "DELETE", "--approval", approval_id, cwd=cwd, env=agent
    )
    assert refused.returncode == 1 and "denied" in refused.stderr
