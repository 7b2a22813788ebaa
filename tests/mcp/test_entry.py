"""``python -m loomal.mcp`` stands on its own: the MCP adapter does not import the
CLI, and ``loomal mcp`` is the same command under another name."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

import loomal.mcp
from loomal.cli import main as loomal_cli
from loomal.mcp import entry
from loomal.mcp.entry import StdioSettings

MCP_PACKAGE = Path(loomal.mcp.__file__).parent


def test_no_module_of_the_mcp_package_imports_the_cli() -> None:
    for path in sorted(MCP_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n == "loomal.cli" or n.startswith("loomal.cli.") for n in names), path


def test_python_m_loomal_mcp_runs_without_loading_the_cli(tmp_path: Path) -> None:
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['loomal.mcp', '--help']\n"
        "try:\n"
        "    runpy.run_module('loomal.mcp', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] == ['loomal', 'cli']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Serve the vault tools over MCP on stdin/stdout." in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


def test_both_names_have_the_same_options_and_help() -> None:
    runner = CliRunner()
    via_cli = runner.invoke(loomal_cli, ["mcp", "--help"], prog_name="loomal")
    via_module = runner.invoke(entry._command, ["--help"], prog_name="python -m loomal.mcp")
    assert via_cli.exit_code == via_module.exit_code == 0
    assert via_cli.output.splitlines()[0] == "Usage: loomal mcp [OPTIONS]"
    assert via_module.output.splitlines()[0] == "Usage: python -m loomal.mcp [OPTIONS]"
    assert via_cli.output.splitlines()[1:] == via_module.output.splitlines()[1:]
    for option in ("--api-key", "--base-url", "--tool-names [underscore|dotted]", "-h, --help"):
        assert option in via_cli.output


@pytest.mark.parametrize("via_cli", [True, False])
def test_both_names_read_the_same_settings_and_run_the_same_call(
    monkeypatch: pytest.MonkeyPatch, via_cli: bool
) -> None:
    ran: list[StdioSettings] = []
    monkeypatch.setattr(entry, "run", ran.append)
    monkeypatch.setattr("loomal.cli.mcp.run", ran.append)
    env = {
        "LOOMAL_API_KEY": "loid-from-env",
        "LOOMAL_API_URL": "http://127.0.0.1:1",
        "LOOMAL_MCP_TOOL_NAMES": "dotted",
    }
    runner = CliRunner()

    def invoke(args: list[str], env: Mapping[str, str | None]) -> None:
        if via_cli:
            result = runner.invoke(loomal_cli, ["mcp", *args], env=env)
        else:
            result = runner.invoke(entry._command, args, env=env)
        assert result.exit_code == 0, result.output

    invoke([], env)
    invoke(
        ["--api-key", "loid-flag", "--base-url", "http://[::1]:2", "--tool-names", "underscore"],
        env,
    )
    invoke([], dict.fromkeys([*env, "LOOMAL_BASE_URL"]))  # none of them set
    assert ran == [
        StdioSettings("loid-from-env", "http://127.0.0.1:1", "dotted"),
        StdioSettings("loid-flag", "http://[::1]:2", "underscore"),
        StdioSettings(None, None, "underscore"),
    ]
    assert "loid" not in repr(ran)


def test_a_vault_error_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOMAL_API_KEY", raising=False)
    result = CliRunner().invoke(entry._command, [], input="")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: No API key: export LOOMAL_API_KEY=loid-... (or pass --api-key)."
    )
