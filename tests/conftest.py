"""Fixtures: an isolated environment, both stores, the app in-process, a real server.

Storage-backed tests take the ``settings`` fixture, parametrised over SQLite and
PostgreSQL. PostgreSQL runs at 127.0.0.1:5432 here (``LOOMAL_TEST_POSTGRES_URL``
overrides); each test gets its own schema, dropped afterwards. With CI=true an
unreachable PostgreSQL fails the run; otherwise those tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.core.key_file_lock import KdfParams
from loomal.core.models import IdentityCreated
from loomal.runtime import RunningVault, open_store
from loomal.server.app import create_app
from loomal.server.edge import Edge
from tests.upstream import Upstream, running_upstream

POSTGRES_URL = os.environ.get(
    "LOOMAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BOTH_SCOPES = ("vault:read", "vault:write")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in list(os.environ):
        if var.startswith("LOOMAL_") and var != "LOOMAL_TEST_POSTGRES_URL":
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
        if "does not exist" in str(exc):  # the server answered: the database is missing
            pytest.skip(
                f"{POSTGRES_URL}: no such database (createdb -h 127.0.0.1 -U postgres test)"
            )
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable ({type(exc).__name__})")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    schema = "loomal_test_" + secrets.token_hex(6)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_admin_url}?options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServerSettings:
    overrides: dict[str, Any] = {"data_dir": str(tmp_path / "data")}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    return ServerSettings.load(overrides, env={})


@dataclass
class Api:
    """The app in-process (real store, real crypto), with helpers to make keys."""

    client: TestClient[Any]
    settings: ServerSettings
    app: Edge

    @property
    def vault(self) -> RunningVault:
        vault: RunningVault = self.app.state.vault
        return vault

    def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a coroutine function on the app's event loop."""

        async def run() -> Any:
            return await func(*args, **kwargs)

        return self.client.blocking_portal.call(run)

    def new_identity(
        self, scopes: tuple[str, ...] = BOTH_SCOPES, name: str | None = None
    ) -> IdentityCreated:
        created: IdentityCreated = self.call(
            self.vault.identities.create_identity,
            name or "agent-" + secrets.token_hex(4),
            scopes=list(scopes),
        )
        return created

    def headers(self, scopes: tuple[str, ...] = BOTH_SCOPES) -> dict[str, str]:
        return auth(self.new_identity(scopes).api_key)


class ManualClock:
    """A clock that moves only when a test moves it (``open_vault``/``create_app``
    take it): tests that wait for a window or a throttle advance it, never sleep."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def api(settings: ServerSettings) -> Iterator[Api]:
    app = create_app(settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings, app=app)


CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}
"""Argon2id at its least cost: for files tests write, never for a real one."""


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key files this test seals (``set_passphrase``) use Argon2id at its least cost
    instead of RFC 9106's 0.2 s of CPU and 64 MiB per derivation. The file records its
    parameters, so unsealing, rotating and re-sealing run the same code; a test of the
    defaults themselves, or of work racing a slow derivation, goes without it."""

    def new(cls: type[KdfParams]) -> KdfParams:
        return cls(salt=os.urandom(16), **CHEAP_ARGON2)

    monkeypatch.setattr(KdfParams, "new", classmethod(new))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked_api(settings: ServerSettings, clock: ManualClock) -> Iterator[Api]:
    """``api`` on a vault whose time moves only with ``clock``."""
    app = create_app(settings=settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings, app=app)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """The loopback upstream brokered requests go to (:mod:`tests.upstream`)."""
    with running_upstream() as running:
        yield running


@pytest.fixture
def loopback_api(settings: ServerSettings) -> Iterator[Api]:
    """``api`` on a server whose brokered requests may reach 127.0.0.1 (the
    :func:`upstream`), which the egress policy refuses by default."""
    allowed = replace(settings, fetch_allow_private=("127.0.0.1",))
    app = create_app(settings=allowed)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=allowed, app=app)


# -- the `loomal` command as a user runs it ---------------------------------------------


def loomal(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loomal ARGS`` (the installed command) and capture its output;
    ``env`` adds to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "loomal", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )


def create_store(data_dir: Path, database_url: str | None = None) -> None:
    """An empty store in ``data_dir`` (or at ``database_url``), as a first ``loomal
    serve`` leaves one: the server-host commands refuse to run without one."""

    async def create() -> None:
        overrides = {"data_dir": str(data_dir), "database_url": database_url}
        settings = ServerSettings.load(overrides, env={})
        await (await open_store(settings, create=True)).close()

    asyncio.run(create())


def new_key(*args: str, cwd: Path) -> str:
    """``loomal identity ARGS`` (create, add-key, ...); the key is its last line."""
    result = loomal("identity", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def new_platform_key(data_dir: Path, *, cwd: Path, name: str = "ops") -> str:
    """``loomal platform-key create NAME`` against a server's store; the key is its last line."""
    result = loomal("platform-key", "create", name, "--data-dir", str(data_dir), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


# -- a real `loomal serve` process ------------------------------------------------


def eventually(check: Any, *, timeout: float = 20, what: str = "the condition") -> None:
    """Poll ``check()`` until it is true: for what a separate server process does
    on its own schedule (a once-a-second flush, a worker following a seal), where
    no clock can be injected. Waits no longer than needed; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    base_url: str
    api_key: str | None
    output: list[str] = field(default_factory=list)

    def kill(self) -> None:
        """A crash: SIGKILL to the supervisor and every worker at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15) -> str:
        """A clean stop (SIGTERM, as a service manager sends it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # no orphaned worker holds the pipe
        assert self.process.stdout is not None
        self.output.append(self.process.stdout.read())
        return "".join(self.output)


def start_server(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30
) -> ServerProcess:
    """Start ``loomal serve`` and wait until it answers; return its first key if printed."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loomal", "serve", "--port", str(port), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a crash can kill all of it
    )
    base_url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("loomal serve exited early:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("Listening on"):
            break
    key_match = re.search(r"^\s+(loid-[A-Za-z0-9_-]{32,})$", "".join(lines), re.M)
    while time.monotonic() < deadline:
        try:
            httpx.get(base_url + "/v0/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError("loomal serve did not answer:\n" + "".join(lines))
    return ServerProcess(process, base_url, key_match.group(1) if key_match else None, lines)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_server("--data-dir", str(tmp_path / "server-data"), cwd=tmp_path)
    yield proc
    proc.stop()


def venv_with(env_dir: Path, requirement: str, *, what: str, clear: bool = False) -> Path:
    """A new virtual environment at ``env_dir`` with ``requirement`` pip-installed;
    its python. With CI=true a failed install fails the test, elsewhere (no
    registry reachable) it skips, saying why."""
    python = env_dir / "bin" / "python"
    try:
        venv.EnvBuilder(with_pip=True, clear=clear).create(env_dir)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-input", requirement],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        if IN_CI:
            pytest.fail(f"CI=true but {what} could not be installed: {detail[-800:]}")
        pytest.skip(f"{what} could not be installed here ({type(exc).__name__})")
    return python
