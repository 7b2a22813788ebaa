"""``loomal serve``: prepare the store (migrations, master key, first identity)
once in the parent process, then serve the API with granian (measured ~27%
more requests/s than uvicorn for a constant-JSON endpoint on this stack: see
docs/benchmarks.md).

With ``--workers N`` each worker opens its own connections to the same store;
they share nothing else, so any request may go to any worker.

With a sealed key file the parent also runs the unseal agent
(:mod:`loomal.unseal_agent`): it holds the keys once unsealed, and the workers
fetch them from it, so one ``loomal admin unseal`` serves every worker.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

import click
from granian.constants import Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels

from loomal import __version__
from loomal.cli.common import (
    fail,
    read_passphrase_file,
    reports_errors,
    run_async,
    server_settings,
    store_options,
)
from loomal.config import DEFAULTS, ServerSettings
from loomal.core.audit import AuditLog
from loomal.core.models import IdentityCreated
from loomal.keyfile import KeyFileSource, is_sealed_key_file
from loomal.mcp.names import TOOL_NAME_MODES
from loomal.runtime import check_store_keys, open_identities, open_vault, store_session
from loomal.server.bound_server import BoundFirstGranian
from loomal.server.parent_watch import PARENT_ENV
from loomal.server.request_log import configure_logging
from loomal.unseal_agent import TOKEN_ENV, UnsealAgent

__all__ = ["serve"]

# Connection limits given to granian (docs/operations.md, "Connection limits").
# Granian holds one slot of its per-worker ``backpressure`` for every open connection,
# busy or idle, and its default (backlog / workers = 1,024) let one client with no key
# hold every slot with 1,024 silent sockets. Its HTTP/1 server has no idle timeout for
# a connection that never sends a byte, so capacity is the bound there, and the
# deadlines below free every connection that has started a request.

HEADER_READ_TIMEOUT_MS = 10_000
"""The deadline for a request's headers once its first byte came (granian's default
is 30 s). Every client of this API sends its few hundred bytes of headers in one
write: 10 s is ample on a slow link and frees a slot held by a trickler 3x sooner."""

CONNECTIONS_PER_WORKER = 16_384
"""Open connections each worker serves at once (granian's ``backpressure``), 16x
granian's default: an idle connection costs a file descriptor and about 3 KiB of
memory (measured: 16,000 idle connections add about 50 MiB to a worker), so
legitimate clients keep being served while an abuser must open 16k sockets per
worker (and bodies and headers still have their deadlines)."""

BACKLOG = 4_096
"""The listen queue (granian's default 1,024): a burst of new connections waits in
the kernel instead of being refused. Linux caps it at ``net.core.somaxconn``
(4,096 by default since 5.4)."""

WORKER_STOP_SECONDS = 30
"""How long a stopping server waits for each worker to finish its requests and flush
its audit log before killing it. Without a bound, a worker that was still starting
when the stop came could miss it (a granian race, seen here about 1 stop in 5 right
after start) and the server would wait for it forever, the port already closed.
30 s: a brokered request in flight (broker/exchange.py Limits) still completes."""

FD_RESERVE = 512
"""File descriptors a worker keeps for everything but client connections: the
store's connections, the log, the unseal socket, the MCP server."""


def connection_capacity(per_worker: int = CONNECTIONS_PER_WORKER) -> int:
    """The connections each worker may hold: ``per_worker``, after raising this
    process's soft open-files limit toward it (workers inherit it), and never more
    than that limit allows (beyond it accept() would fail with EMFILE)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return per_worker
    wanted = per_worker + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return per_worker
    return max(64, min(per_worker, soft - FD_RESERVE))


async def _prepare(settings: ServerSettings) -> tuple[IdentityCreated | None, str]:
    """Migrate the store, check the master key and make the first identity."""
    vault = await open_vault(settings)
    try:
        created = await vault.identities.ensure_first_identity()
        source = vault.key_source
        if isinstance(source, KeyFileSource) and source.generated:
            key_note = (
                f"generated {source.description} (mode 0600). Back it up: without it the "
                "stored credentials cannot be decrypted."
            )
        else:
            key_note = f"from {source.description}"
        return created, key_note
    finally:
        await vault.close()


async def _prepare_sealed(settings: ServerSettings) -> IdentityCreated | None:
    """As :func:`_prepare`, without the keys: the unseal checks them against the store."""
    async with store_session(settings, create=True) as store:
        return await open_identities(store, settings, AuditLog(store)).ensure_first_identity()


def _start_unseal_agent(settings: ServerSettings, passphrase_file: str | None) -> UnsealAgent:
    agent = UnsealAgent(
        settings.key_file,
        settings.unseal_socket_path,
        check_keys=lambda key_ids: run_async(check_store_keys(settings, key_ids)),
    )
    if passphrase_file is not None:
        agent.unseal(read_passphrase_file(passphrase_file))
    agent.start()
    return agent


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror} (is another server running?)")


@click.command()
@click.option("--host", envvar="LOOMAL_HOST", default=DEFAULTS.host, show_default=True)
@click.option("--port", envvar="LOOMAL_PORT", type=int, default=DEFAULTS.port, show_default=True)
@click.option(
    "--workers", envvar="LOOMAL_WORKERS", type=int, default=DEFAULTS.workers, show_default=True
)
@click.option(
    "--master-key-file",
    envvar="LOOMAL_MASTER_KEY_FILE",
    type=click.Path(dir_okay=False),
    help="Key file (one base64 key per line). LOOMAL_MASTER_KEY takes precedence.",
)
@click.option(
    "--auth-cache-seconds",
    envvar="LOOMAL_AUTH_CACHE_SECONDS",
    type=float,
    default=DEFAULTS.auth_cache_seconds,
    show_default=True,
    help="How long a key's lookup is cached: the bound on revocation delay (0 = no cache).",
)
@click.option(
    "--usage-flush-seconds",
    envvar="LOOMAL_USAGE_FLUSH_SECONDS",
    type=float,
    default=DEFAULTS.usage_flush_seconds,
    show_default=True,
    help="Longest delay before lastUsedAt updates are written.",
)
@click.option(
    "--auth-failure-limit",
    envvar="LOOMAL_AUTH_FAILURE_LIMIT",
    type=int,
    default=DEFAULTS.auth_failure_limit,
    show_default=True,
    help="Failed authentications per client address per minute before 429 (0 = off).",
)
@click.option(
    "--key-rate-limit",
    envvar="LOOMAL_KEY_RATE_LIMIT",
    type=float,
    default=DEFAULTS.key_rate_limit,
    show_default=True,
    help="Requests per second per API key and worker, burst twice that (0 = off).",
)
@click.option(
    "--body-timeout-seconds",
    envvar="LOOMAL_BODY_TIMEOUT_SECONDS",
    type=float,
    default=DEFAULTS.body_timeout_seconds,
    show_default=True,
    help="Deadline for receiving a whole request body; then 408 and the connection closes.",
)
@click.option(
    "--unseal-passphrase-file",
    envvar="LOOMAL_UNSEAL_PASSPHRASE_FILE",
    type=click.Path(dir_okay=False),
    help="With a sealed key file: unseal at start with the passphrase in this file.",
)
@click.option(
    "--unseal-socket",
    envvar="LOOMAL_UNSEAL_SOCKET",
    type=click.Path(dir_okay=False),
    help="With a sealed key file: where `loomal admin unseal` reaches this server "
    "[default: <data dir>/unseal.sock].",
)
@click.option(
    "--public-url",
    envvar="LOOMAL_PUBLIC_URL",
    help="The servers' address as browsers reach it (a load balancer's), e.g. "
    "https://vault.example.com: console links use it [default: from --host/--port].",
)
@click.option(
    "--webhook-url",
    envvar="LOOMAL_WEBHOOK_URL",
    help="POST a signed event here when a person is needed (a new approval, an access "
    "request): https, or http to a loopback address. Needs a secret (below). Default: none.",
)
@click.option(
    "--webhook-secret-file",
    envvar="LOOMAL_WEBHOOK_SECRET_FILE",
    type=click.Path(dir_okay=False),
    help="File holding the webhook signing secret (or set LOOMAL_WEBHOOK_SECRET); "
    "X-Loomal-Signature is sha256=HMAC-SHA256(secret, body).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="A browser origin allowed to call the API, e.g. https://app.example.com "
    "(repeat for more; LOOMAL_CORS_ORIGINS, comma-separated). Default: CORS off.",
)
@click.option(
    "--fetch-allow-private",
    "fetch_allow_private",
    multiple=True,
    metavar="HOST",
    help="Let brokered requests (fetch, proxy) reach this private/loopback host, address "
    "or CIDR network, over http too (repeat for more; LOOMAL_FETCH_ALLOW_PRIVATE, "
    "comma-separated). For tests and internal APIs. Default: public addresses only, https.",
)
@click.option(
    "--mcp-tool-names",
    envvar="LOOMAL_MCP_TOOL_NAMES",
    type=click.Choice(TOOL_NAME_MODES),
    default=DEFAULTS.mcp_tool_names,
    show_default=True,
    help="How /mcp lists its tools: vault_store (every MCP host accepts it) or the dotted "
    "vault.store (refused by Claude Desktop, Cursor, ...). Calls work by either name.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="A reverse proxy's address or CIDR network whose X-Forwarded-For / Forwarded is "
    "believed (repeat for more; LOOMAL_TRUSTED_PROXIES, comma-separated). Default: none.",
)
@click.option(
    "--audit-retention-days",
    envvar="LOOMAL_AUDIT_RETENTION_DAYS",
    type=float,
    default=DEFAULTS.audit_retention_days,
    show_default=True,
    help="Prune audit events older than this, in the background (0 = keep forever).",
)
@click.option(
    "--max-versions",
    envvar="LOOMAL_MAX_VERSIONS",
    type=click.IntRange(1, 1000),
    default=DEFAULTS.max_versions,
    show_default=True,
    help="Versions of each credential kept, the current one included (older ones destroyed).",
)
@click.option(
    "--deleted-retention-days",
    envvar="LOOMAL_DELETED_RETENTION_DAYS",
    type=float,
    default=DEFAULTS.deleted_retention_days,
    show_default=True,
    help="A deleted credential stays recoverable (undelete) this long, then is destroyed.",
)
@click.option(
    "--metrics",
    is_flag=True,
    envvar="LOOMAL_METRICS",
    help="Serve Prometheus metrics at /metrics (no key; bind to a private address).",
)
@click.option(
    "--log-format",
    envvar="LOOMAL_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default=DEFAULTS.log_format,
    show_default=True,
    help="json: one JSON object per line, with each request's X-Request-Id.",
)
@click.option(
    "--access-log",
    is_flag=True,
    envvar="LOOMAL_ACCESS_LOG",
    help="Log one line per request (never bodies).",
)
@store_options
@reports_errors
def serve(
    unseal_passphrase_file: str | None,
    log_format: str,
    access_log: bool,
    **options: Any,
) -> None:
    """Start the vault server (SQLite in ./loomal-data unless --database-url is given)."""
    configure_logging(log_format, access=access_log)
    # Every other option is a setting of the same name (an empty repeatable one: unset).
    settings = server_settings(
        log_format=log_format,
        access_log=access_log,
        **{
            name: (value or None) if isinstance(value, tuple) else value
            for name, value in options.items()
        },
    )
    _check_port_free(settings.host, settings.port)
    agent: UnsealAgent | None = None
    if settings.master_key is None and is_sealed_key_file(settings.key_file):
        agent = _start_unseal_agent(settings, unseal_passphrase_file)
    try:
        _serve(settings, agent)
    finally:
        if agent is not None:
            agent.close()


def _serve(settings: ServerSettings, agent: UnsealAgent | None) -> None:
    if agent is None:
        created, key_note = run_async(_prepare(settings))
    else:
        created = run_async(_prepare_sealed(settings))
        key_note = f"sealed in {settings.key_file}; " + (
            "unsealed with the passphrase file"
            if not agent.sealed
            else f"SEALED until `loomal admin unseal` (socket {agent.socket_path})"
        )
    where = "PostgreSQL" if settings.is_postgres else f"SQLite at {settings.data_dir / 'loomal.db'}"
    click.echo(f"Loomal Vault {__version__}")
    click.echo(f"  store:      {where}")
    click.echo(f"  master key: {key_note}")
    if settings.fetch_allow_private:  # a loosened guard is said where the operator looks
        click.echo(
            f"  brokered:   may also reach {', '.join(settings.fetch_allow_private)}, "
            "private, over http too (--fetch-allow-private)"
        )
    if settings.webhook_url:  # the host only: a webhook URL may hold a token
        click.echo(f"  webhook:    signed events to {urlsplit(settings.webhook_url).hostname}")
    if created is not None:
        click.echo(
            f'\nCreated the first identity "{created.name}" ({", ".join(created.scopes)}).\n'
            "Its API key is shown only this once:\n"
        )
        click.echo(f"    {created.api_key}\n")
        click.echo(f"  export LOOMAL_API_KEY={created.api_key}\n")
    click.echo(
        f"Console:    {settings.browser_url}/ (sign in with an API key, or "
        "run `loomal identity login-link NAME` for a one-time link)"
    )
    os.environ.update(settings.to_env())  # each worker builds its app from these
    os.environ[PARENT_ENV] = str(os.getpid())  # workers stop if this process is killed
    if agent is not None:
        os.environ[TOKEN_ENV] = agent.token  # workers fetch the keys from the agent
    text_access_log = settings.access_log and settings.log_format == "text"

    def listening() -> None:  # the port accepts connections from now on
        click.echo(f"Listening on http://{settings.host}:{settings.port} (Ctrl+C to stop)")
        sys.stdout.flush()

    server = BoundFirstGranian(
        "loomal.server.app:create_app_from_env",
        on_listening=listening,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
        websockets=False,
        workers_kill_timeout=WORKER_STOP_SECONDS,
        backlog=BACKLOG,
        backpressure=connection_capacity(),
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        # JSON lines come from the app (loomal.server.request_log), text ones from granian
        log_enabled=text_access_log,
        log_access=text_access_log,
        log_level=LogLevels.info if text_access_log else LogLevels.warning,
        respawn_failed_workers=True,
    )
    server.serve()
