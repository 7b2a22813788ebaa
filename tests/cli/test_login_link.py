"""``loomal identity login-link`` links to where browsers reach the servers: the
configured public URL (``--public-url`` / ``LOOMAL_PUBLIC_URL``), or this host's
address, saying so, when none is set (a PostgreSQL store's servers are elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from loomal.config import ServerSettings
from tests.conftest import create_store, start_server

NOTE = "No public URL is set: this link points at http://127.0.0.1:8470, this host's address"


@pytest.fixture
def store(settings: ServerSettings) -> list[str]:
    """Store flags for an existing store with an identity ``agent``, on either store."""
    create_store(settings.data_dir, settings.database_url)
    flags = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        flags += ["--database-url", settings.database_url]
    assert invoke("identity", "create", "agent", *flags).exit_code == 0
    return flags


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_without_a_public_url_the_link_is_this_hosts_and_says_so(store: list[str]) -> None:
    result = invoke("identity", "login-link", "agent", *store)
    assert result.exit_code == 0
    assert result.stdout.startswith("http://127.0.0.1:8470/login#lcl-")
    assert NOTE in result.stderr
    assert "LOOMAL_PUBLIC_URL" in result.stderr


def test_the_public_url_from_the_environment_or_the_flag(store: list[str]) -> None:
    from_env = invoke(
        "identity",
        "login-link",
        "agent",
        *store,
        env={"LOOMAL_PUBLIC_URL": "https://v.example.com/"},
    )
    assert from_env.stdout.startswith("https://v.example.com/login#lcl-")
    assert "No public URL" not in from_env.stderr
    for flag in ("--public-url", "--url"):
        behind = invoke(
            "identity", "login-link", "agent", *store, flag, "https://lb.example:8443/vault"
        )
        assert behind.stdout.startswith("https://lb.example:8443/vault/login#lcl-")


@pytest.mark.parametrize(
    "bad", ["vault.example.com", "ftp://x", "https://u:pw-secret@x", "https://x/?a=1"]
)
def test_a_malformed_public_url_is_refused_without_repeating_it(store: list[str], bad: str) -> None:
    result = invoke("identity", "login-link", "agent", *store, "--public-url", bad)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: The public URL must look like https://vault.example.com[:port][/path] "
        "(no user, query or fragment).\n"
    )


@pytest.mark.slow
def test_serve_shows_the_console_at_the_public_url(tmp_path: Path) -> None:
    server = start_server(
        "--data-dir", str(tmp_path / "d"), "--public-url", "https://vault.example.com", cwd=tmp_path
    )
    banner = server.stop()
    assert "Console:    https://vault.example.com/ (sign in" in banner
