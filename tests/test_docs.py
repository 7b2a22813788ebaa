"""The docs' examples run: every ```python block of docs/sdk.md (in order, one
namespace) and every ``$`` line of docs/cli.md, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, new_platform_key

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

DOCS = Path(__file__).parent.parent / "docs"


def blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def test_sdk_page_examples_run(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url)
    platform_key = new_platform_key(tmp_path / "server-data", cwd=tmp_path)
    monkeypatch.setenv("LOOMAL_PLATFORM_KEY", platform_key)
    namespace: dict[str, Any] = {}
    code = blocks("sdk.md", "python")
    assert len(code) >= 6
    for block in code:
        exec(compile(block, "docs/sdk.md", "exec"), namespace)


def test_cli_page_commands_run(server: ServerProcess, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LOOMAL_API_KEY": server.api_key or "",
        "LOOMAL_API_URL": server.base_url,
        "LOOMAL_DATA_DIR": str(tmp_path / "server-data"),
        "LOOMAL_PLATFORM_KEY": new_platform_key(tmp_path / "server-data", cwd=tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    commands = [
        line[2:]
        for block in blocks("cli.md", "console")
        for line in block.splitlines()
        if line.startswith("$ ")
    ]
    assert len(commands) >= 15
    for command in commands:
        result = subprocess.run(
            ["sh", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
