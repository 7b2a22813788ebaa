"""The tool-name setting, without processes: how it is read, checked and spelled."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loomal.config import ServerSettings
from loomal.errors import ValidationError
from loomal.mcp.names import spelled
from loomal.mcp.tools import TOOLS, build_mcp_server
from tests.mcp.conftest import DOTTED, HOST_NAME_RULE, UNDERSCORE


def test_each_tool_in_both_spellings() -> None:
    assert tuple(spelled(t.name, "underscore") for t in TOOLS) == UNDERSCORE
    assert tuple(spelled(t.name, "dotted") for t in TOOLS) == DOTTED
    assert all(re.fullmatch(HOST_NAME_RULE, name) for name in UNDERSCORE)
    assert not any(re.fullmatch(HOST_NAME_RULE, name) for name in DOTTED)


def test_the_server_setting_comes_from_the_flag_or_the_environment() -> None:
    assert ServerSettings.load(env={}).mcp_tool_names == "underscore"
    env = {"LOOMAL_MCP_TOOL_NAMES": "dotted"}
    assert ServerSettings.load(env=env).mcp_tool_names == "dotted"
    assert ServerSettings.load({"mcp_tool_names": "underscore"}, env=env).mcp_tool_names == (
        "underscore"
    )
    assert ServerSettings.load(env=env).to_env()["LOOMAL_MCP_TOOL_NAMES"] == "dotted"
    with pytest.raises(ValidationError, match="MCP tool names must be underscore or dotted"):
        ServerSettings.load(env={"LOOMAL_MCP_TOOL_NAMES": "camel"})


def test_a_wrong_choice_is_refused_by_both_commands(tmp_path: Path) -> None:
    for command in (["mcp", "--tool-names", "camel"], ["serve", "--mcp-tool-names", "camel"]):
        result = subprocess.run(
            [sys.executable, "-m", "loomal", *command],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert result.returncode == 2
        assert "'camel' is not one of 'underscore', 'dotted'" in result.stderr


def test_descriptions_name_the_listed_spelling() -> None:
    async def backend_for(_: object) -> object:
        raise AssertionError("no tool is called here")

    for mode, listed, other in (("underscore", UNDERSCORE, DOTTED), ("dotted", DOTTED, UNDERSCORE)):
        server = build_mcp_server(backend_for, mode)  # type: ignore[arg-type]
        tools = asyncio.run(server.list_tools())
        assert tuple(t.name for t in tools) == listed
        text = (server.instructions or "") + "".join(t.description or "" for t in tools)
        assert not any(name in text for name in other), mode
        assert all(name in text for name in listed[:5]), mode
