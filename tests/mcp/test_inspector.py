"""The MCP Inspector CLI (the reference client from the MCP project, pinned)
against both transports: ``tools/list`` with its ``--strict`` portability check,
and a ``tools/call`` each way. Needs Node.js (``npx``); without it this test
skips saying so, and fails under CI=true."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, ServerProcess
from tests.mcp.conftest import HOST_NAME_RULE, UNDERSCORE

pytestmark = pytest.mark.slow  # starts a server and Node processes

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
"""Pinned: the newest release when this test was written (npm view ... version)."""


def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        reason = "npx not found: install Node.js to run the MCP Inspector CLI test"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


def inspector(home: Path, *args: str) -> tuple[dict[str, Any], str]:
    """One Inspector CLI run; its JSON result and the command line (key masked)."""
    command = [npx(), "-y", INSPECTOR, "--cli", *args]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
        # Its catalog and npm's cache notes go to a throwaway home.
        env={**os.environ, "HOME": str(home), "npm_config_update_notifier": "false"},
    )
    shown = re.sub(r"loid-[A-Za-z0-9_-]+", "loid-***", " ".join(["npx", *command[1:]]))
    assert result.returncode == 0, (shown, result.stdout[-2000:], result.stderr[-2000:])
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer, shown


def test_inspector_cli_lists_and_calls_over_stdio_and_http(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    npx()
    key = server.api_key or ""
    loomal = str(Path(sys.executable).parent / "loomal")
    stdio = [
        loomal,
        "mcp",
        "-e",
        f"LOOMAL_API_KEY={key}",
        "-e",
        f"LOOMAL_API_URL={server.base_url}",
    ]
    http = [
        server.base_url + "/mcp",
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {key}",
    ]
    transcript = []

    for target in (stdio, http):
        listed, shown = inspector(tmp_path, *target, "--method", "tools/list", "--strict")
        names = [tool["name"] for tool in listed["tools"]]
        assert tuple(names) == UNDERSCORE
        assert all(re.fullmatch(HOST_NAME_RULE, name) for name in names)
        by_name = {tool["name"]: tool for tool in listed["tools"]}
        assert by_name["vault_delete"]["annotations"]["destructiveHint"] is True
        assert by_name["vault_list"]["annotations"]["readOnlyHint"] is True
        transcript.append(f"$ {shown}")
        transcript.extend(
            f"  {t['name']:<22} {t['title']:<26} {json.dumps(t['annotations'], sort_keys=True)}"
            for t in listed["tools"]
        )

    store_args = {"name": "gh", "type": "LOGIN", "data": {"password": "pw-1"}}
    stored, shown = inspector(
        tmp_path,
        *stdio,
        "--method",
        "tools/call",
        "--tool-name",
        "vault_store",
        "--tool-args-json",
        json.dumps({**store_args, "metadata": {"username": "octocat"}}),
    )
    assert stored["isError"] is False
    assert stored["structuredContent"]["name"] == "gh"
    transcript.append(f"$ {shown}\n  -> {json.dumps(stored['structuredContent'])}")

    got, shown = inspector(
        tmp_path,
        *http,
        "--method",
        "tools/call",
        "--tool-name",
        "vault_get",
        "--tool-arg",
        "name=gh",
    )
    assert got["isError"] is False
    assert got["structuredContent"]["data"] == {"password": "pw-1"}
    assert got["structuredContent"]["metadata"] == {"username": "octocat"}
    transcript.append(f"$ {shown}\n  -> isError=false, metadata={{'username': 'octocat'}}")

    with capsys.disabled():
        print("\n--- MCP Inspector CLI transcript ---\n" + "\n".join(transcript))
