"""The base install is a client: ``pip install loomal-vault`` brings the SDK and the
client CLI, none of the server's dependencies, and a server command says what to
install. Built and installed into a fresh virtual environment, as a user would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, venv_with

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = (
    "litestar", "granian", "psycopg", "mcp", "argon2-cffi", "cryptography", "pyotp", "rich",
)  # fmt: skip


@pytest.fixture(scope="module")
def light_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("light") / "venv"
    return venv_with(env_dir, str(ROOT), what="the base install (loomal-vault)")


def test_the_base_install_holds_no_server_dependency(light_python: Path) -> None:
    listed = subprocess.run(
        [str(light_python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    installed = {line.split("==")[0] for line in listed.splitlines()}
    assert not installed & set(SERVER_ONLY), installed & set(SERVER_ONLY)
    assert {"loomal-vault", "httpx", "msgspec", "click"} <= installed


def test_importing_the_sdk_does_not_load_httpx_command_line(light_python: Path) -> None:
    """httpx imports its CLI (click, rich, pygments) when all are installed: 120 ms more."""
    loaded = subprocess.run(
        [
            str(light_python),
            "-c",
            "import sys; from loomal import Loomal; "
            "print(sorted(m for m in ('rich', 'pygments', 'httpx._main') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_the_client_works_and_a_server_command_names_its_extra(
    light_python: Path, server: ServerProcess, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOOMAL_")},
        "LOOMAL_API_KEY": server.api_key or "",
        "LOOMAL_API_URL": server.base_url,
    }
    sdk = subprocess.run(
        [
            str(light_python),
            "-c",
            "from loomal import Loomal; c = Loomal(); "
            "c.vault.store('stripe', 'API_KEY', {'key': 'sk_live_abc123...'}); "
            "print(c.vault.get('stripe').data['key'], c.identity.whoami().name)",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sdk.returncode == 0, sdk.stderr
    assert sdk.stdout.split() == ["sk_live_abc123...", "default"]

    loomal = light_python.parent / "loomal"
    listed = subprocess.run(
        [str(loomal), "vault", "list"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "stripe" in listed.stdout
    for command, extra in (("serve", "server"), ("identity", "server"), ("mcp", "mcp")):
        refused = subprocess.run(
            [str(loomal), command, "--port", "1"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 1
        assert f"pip install 'loomal-vault[{extra}]'" in refused.stderr
        assert "Traceback" not in refused.stderr
