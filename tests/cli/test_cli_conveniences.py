"""Small things a newcomer meets in the CLI: the missing-key line says what to type
in a shell, ``--type`` in any case, a warning for an ``--expires-at`` already past,
the start banner naming loosened brokered-request rules, ``make serve`` on another
port as the README says."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from tests.conftest import ServerProcess, free_port, start_server

ROOT = Path(__file__).parents[2]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    "command", [("vault", "list"), ("whoami",), ("run", "--env", "A=b", "--", "true")], ids=str
)
def test_a_missing_key_says_what_to_export(command: tuple[str, ...]) -> None:
    result = invoke(*command)
    assert result.exit_code == 1
    assert (
        result.stderr == "error: No API key: export LOOMAL_API_KEY=loid-... (or pass --api-key).\n"
    )


@pytest.mark.slow
def test_type_in_any_case_and_a_warning_for_a_past_expiry(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url)
    lower = invoke("vault", "store", "k", "--type", "api_key", "--data", '{"key":"v"}')
    assert lower.exit_code == 0, lower.output
    assert lower.stdout.startswith("Created k (API_KEY, ")
    assert lower.stderr == ""

    past = invoke(
        "vault", "store", "old", "--type", "Login", "--data", '{"password":"p"}',
        "--expires-at", "2020-01-01T00:00:00Z",
    )  # fmt: skip
    assert past.exit_code == 0
    assert past.stdout.startswith("Created old (LOGIN, ")
    assert past.stderr == (
        "warning: --expires-at 2020-01-01T00:00:00Z is already past: old is stored expired "
        "(get, totp and backup codes answer 410 until it is stored again).\n"
    )
    future = invoke(
        "vault", "store", "new", "--type", "LOGIN", "--data", '{"password":"p"}',
        "--expires-at", "2999-01-01T00:00:00Z",
    )  # fmt: skip
    assert future.exit_code == 0 and future.stderr == ""


@pytest.mark.slow
def test_the_banner_says_when_brokered_requests_may_reach_private_hosts(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "d")]
    plain = start_server(*data, cwd=tmp_path).stop()
    assert "brokered:" not in plain
    loosened = start_server(
        *data, "--fetch-allow-private", "127.0.0.1", "--fetch-allow-private", "10.0.0.0/8",
        cwd=tmp_path,
    ).stop()  # fmt: skip
    assert (
        "  brokered:   may also reach 127.0.0.1, 10.0.0.0/8, private, over http too "
        "(--fetch-allow-private)\n" in loosened
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_serve_on_another_port_as_the_readme_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "LOOMAL_PORT=8471 make serve" in readme
    port = free_port()
    env = {**os.environ, "LOOMAL_PORT": str(port), "LOOMAL_DATA_DIR": str(tmp_path / "d")}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line or line.startswith("Listening on"):
                lines.append(line)
                break
            lines.append(line)
        assert f"Listening on http://127.0.0.1:{port} " in lines[-1], "".join(lines)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
