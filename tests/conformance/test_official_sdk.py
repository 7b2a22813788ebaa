"""Conformance: the official Python SDK (``loomal-sdk==0.6.2``) works unchanged
against a real ``loomal serve``, and ours passes the same script.

The official SDK is installed into a virtual environment of its own (its import
name, ``loomal``, is ours too), kept under ``.cache/`` between runs. With CI=true
a failed install fails the test; elsewhere (no registry reachable) it skips,
saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, new_key, new_platform_key, venv_with

pytestmark = pytest.mark.slow

OFFICIAL = "loomal-sdk==0.6.2"
SCRIPT = Path(__file__).with_name("sdk_script.py")
PLATFORM_SCRIPT = Path(__file__).with_name("platform_script.py")
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "loomal-sdk-0.6.2"


def official_python() -> Path:
    marker = CACHE / ".installed"
    if marker.exists():
        return CACHE / "bin" / "python"
    python = venv_with(CACHE, OFFICIAL, what=OFFICIAL, clear=True)
    marker.touch()
    return python


def run_script(python: Path | str, server: ServerProcess, readonly_key: str, cwd: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOMAL_", "PYTHON"))}
    env |= {
        "LOOMAL_API_KEY": server.api_key or "",
        "LOOMAL_API_URL": server.base_url,
        "LOOMAL_READONLY_KEY": readonly_key,
    }
    done = subprocess.run(
        [str(python), str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_official_sdk_and_ours_run_the_same_script(
    server: ServerProcess, tmp_path: Path
) -> None:
    python = official_python()
    readonly = new_key(
        "create",
        "reader",
        "--scopes",
        "vault:read",
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
    )
    probe = subprocess.run(
        [str(python), "-c", "import loomal, sys; print(loomal.__version__, loomal.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith("0.6.2 ") and str(CACHE) in probe.stdout

    official = run_script(python, server, readonly, tmp_path)
    ours = run_script(sys.executable, server, readonly, tmp_path)

    assert official == ours
    sync = official["sync"]
    assert sync["store"] == [
        "API_KEY",
        "sync-stripe",
        {"service": "stripe", "prefix": "sk_live_...c123"},
        None,
    ]
    assert sync["overwrite.last_rotated_at"] == "set"
    assert sync["store_card"] == ["CARD", {"last4": "4242", "brand": "visa"}]
    assert sync["store_api_key(pair)"] == ["API_KEY", {"clientId": "cid-1"}]
    assert sync["totp_use_backup"] == [["abcd-1234", 1], ["efgh-5678", 0]]
    assert sync["get(totp).data"] == {
        "secret": "[use /v0/vault/:name/totp]",
        "backupCodes": [],
        "usedBackupCodes": ["abcd-1234", "efgh-5678"],
    }
    assert sync["whoami"] == ["AGENT", "BUYER", ["vault:read", "vault:write"], "set"]
    assert official["no_api_key"] == "ValueError"
    assert official["async"]["errors"] == sync["errors"]


def run_platform_script(python: Path | str, server: ServerProcess, key: str, cwd: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOMAL_", "PYTHON"))}
    env |= {"LOOMAL_PLATFORM_KEY": key, "LOOMAL_API_URL": server.base_url}
    done = subprocess.run(
        [str(python), str(PLATFORM_SCRIPT)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_official_platform_clients_and_ours_run_the_same_script(
    server: ServerProcess, tmp_path: Path
) -> None:
    """create -> list with paging -> get -> update -> rotate -> delete, sync and async,
    and a key the platform made stores and reads a credential with Loomal."""
    python = official_python()
    key = new_platform_key(tmp_path / "server-data", cwd=tmp_path)
    official = run_platform_script(python, server, key, tmp_path)
    ours = run_platform_script(sys.executable, server, key, tmp_path)
    assert official == ours
    sync = official["sync"]
    assert sync["create"] == ["sync-agent", "AGENT", "BUYER", None]
    assert sync["create()"] == ["BUYER", ["vault:read", "vault:write"], 3]
    assert sync["list(paged)"] == [["sync-agent", "sync-seller"], True]
    assert sync["update"] == ["sync-renamed", ["vault:read", "vault:use", "vault:write"]]
    assert sync["update_scopes"] == ["vault:read", "vault:write"]
    assert sync["new key reads"] == {"key": "sk_live_platform"}
    assert sync["old key"] == sync["deleted key"] == [401, "unauthorized"]
    assert sync["after delete"] == [404, "not_found"]
    assert official["bad key"] == [401, "unauthorized"]
    assert official["no key"] == "ValueError"
    assert (
        official["async"]
        == {k: (v.replace("sync-", "async-") if isinstance(v, str) else v) for k, v in sync.items()}
        or official["async"]["update"][1] == sync["update"][1]
    )
