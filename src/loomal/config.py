"""Server settings, validated once at start, from flags and ``LOOMAL_*`` variables.

Flags win over environment variables, which win over defaults. Worker processes
receive the parent's settings through the same variables (:meth:`to_env`).
``LOOMAL_MASTER_KEY`` is read here and nowhere else (it has no flag: a key on a
command line would be visible to every user of the host).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loomal.core.crypto import parse_master_key
from loomal.errors import ValidationError
from loomal.keyfile import DEFAULT_KEY_FILE
from loomal.mcp.names import TOOL_NAME_MODES, ToolNameMode

__all__ = [
    "DEFAULTS",
    "DEFAULT_BODY_TIMEOUT_SECONDS",
    "DEFAULT_DATA_DIR",
    "DEFAULT_PORT",
    "ServerSettings",
]

DEFAULT_DATA_DIR = "loomal-data"
DEFAULT_PORT = 8470

_ENV = {
    "data_dir": "LOOMAL_DATA_DIR",
    "database_url": "LOOMAL_DATABASE_URL",
    "master_key": "LOOMAL_MASTER_KEY",
    "master_key_file": "LOOMAL_MASTER_KEY_FILE",
    "host": "LOOMAL_HOST",
    "port": "LOOMAL_PORT",
    "workers": "LOOMAL_WORKERS",
    "auth_cache_seconds": "LOOMAL_AUTH_CACHE_SECONDS",
    "usage_flush_seconds": "LOOMAL_USAGE_FLUSH_SECONDS",
    "max_credentials_per_identity": "LOOMAL_MAX_CREDENTIALS_PER_IDENTITY",
    "auth_failure_limit": "LOOMAL_AUTH_FAILURE_LIMIT",
    "key_rate_limit": "LOOMAL_KEY_RATE_LIMIT",
    "unseal_socket": "LOOMAL_UNSEAL_SOCKET",
    "cors_origins": "LOOMAL_CORS_ORIGINS",
    "fetch_allow_private": "LOOMAL_FETCH_ALLOW_PRIVATE",
    "mcp_tool_names": "LOOMAL_MCP_TOOL_NAMES",
    "trusted_proxies": "LOOMAL_TRUSTED_PROXIES",
    "audit_retention_days": "LOOMAL_AUDIT_RETENTION_DAYS",
    "max_versions": "LOOMAL_MAX_VERSIONS",
    "deleted_retention_days": "LOOMAL_DELETED_RETENTION_DAYS",
    "metrics": "LOOMAL_METRICS",
    "log_format": "LOOMAL_LOG_FORMAT",
    "access_log": "LOOMAL_ACCESS_LOG",
    "body_timeout_seconds": "LOOMAL_BODY_TIMEOUT_SECONDS",
    "public_url": "LOOMAL_PUBLIC_URL",
    "webhook_url": "LOOMAL_WEBHOOK_URL",
    "webhook_secret_file": "LOOMAL_WEBHOOK_SECRET_FILE",
    "webhook_secret": "LOOMAL_WEBHOOK_SECRET",
}

DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
"""How long a request's whole body may take to arrive (the HTTP server's own
deadline for the headers is the same 30 s): an API body is at most 64 KiB."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str | None = None
    master_key: bytes | None = None
    """From ``LOOMAL_MASTER_KEY`` (base64); takes precedence over any key file."""
    master_key_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    auth_cache_seconds: float = 2.0
    usage_flush_seconds: float = 1.0
    max_credentials_per_identity: int | None = None
    auth_failure_limit: int = 20
    """Failed authentications per client address per minute before 429 (0: off)."""
    key_rate_limit: float = 0.0
    """Requests per second per API key and process (0: off)."""
    unseal_socket: Path | None = None
    """Where a server with a sealed key file listens for ``loomal admin unseal``."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (none: CORS off)."""
    fetch_allow_private: tuple[str, ...] = ()
    """Hosts, addresses or networks brokered requests may reach although they are
    private, loopback, link-local...; plain http is allowed to them too."""
    mcp_tool_names: ToolNameMode = "underscore"
    """How ``/mcp`` lists its tools: ``vault_store`` (every host accepts it) or ``vault.store``."""
    trusted_proxies: tuple[str, ...] = ()
    """Networks (CIDR) of reverse proxies whose X-Forwarded-For / Forwarded is believed."""
    audit_retention_days: float = 90.0
    """Audit events older than this are pruned in the background (0: kept forever)."""
    max_versions: int = 10
    """Versions of each credential kept, the current one included (older ones destroyed)."""
    deleted_retention_days: float = 30.0
    """How long a deleted credential stays recoverable before it is destroyed."""
    metrics: bool = False
    """Serve Prometheus metrics at /metrics."""
    log_format: str = "text"
    """``text`` or ``json`` (one JSON object per line, with the request id)."""
    access_log: bool = False
    """One log line per request (never bodies)."""
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    """The deadline for receiving a whole request body, from the first read (408 after)."""
    public_url: str | None = None
    """The address browsers and agents reach the servers at (a load balancer's, say):
    console links are made with it. None: derived from host and port, for this host."""
    webhook_url: str | None = None
    """Where events that need a person (a new approval, an access request) are POSTed,
    signed; https (plain http only to a loopback address). None: no webhook."""
    webhook_secret_file: Path | None = None
    """A file holding the webhook signing secret (workers read it themselves)."""
    webhook_secret: bytes | None = None
    """The signing secret (``LOOMAL_WEBHOOK_SECRET``, or the file's): never printed."""

    def __repr__(self) -> str:
        url = "postgresql://***" if self.database_url else None
        return (
            f"ServerSettings(data_dir={str(self.data_dir)!r}, database_url={url!r}, "
            f"port={self.port})"
        )

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> ServerSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field, var in _ENV.items():
            if env.get(var):
                values[field] = env[var]
        for field, value in (overrides or {}).items():
            if value is not None:
                values[field] = value
        try:
            settings = cls(
                data_dir=Path(values.get("data_dir", DEFAULTS.data_dir)).expanduser().absolute(),
                database_url=values.get("database_url") or None,
                master_key=(
                    parse_master_key(values["master_key"]) if values.get("master_key") else None
                ),
                master_key_file=(
                    Path(values["master_key_file"]).expanduser().absolute()
                    if values.get("master_key_file")
                    else None
                ),
                host=str(values.get("host", DEFAULTS.host)),
                port=int(values.get("port", DEFAULTS.port)),
                workers=int(values.get("workers", DEFAULTS.workers)),
                auth_cache_seconds=float(
                    values.get("auth_cache_seconds", DEFAULTS.auth_cache_seconds)
                ),
                usage_flush_seconds=float(
                    values.get("usage_flush_seconds", DEFAULTS.usage_flush_seconds)
                ),
                max_credentials_per_identity=(
                    int(values["max_credentials_per_identity"])
                    if values.get("max_credentials_per_identity")
                    else None
                ),
                auth_failure_limit=int(
                    values.get("auth_failure_limit", DEFAULTS.auth_failure_limit)
                ),
                key_rate_limit=float(values.get("key_rate_limit", DEFAULTS.key_rate_limit)),
                cors_origins=_origins(values.get("cors_origins")),
                fetch_allow_private=_allowances(values.get("fetch_allow_private")),
                mcp_tool_names=values.get("mcp_tool_names", DEFAULTS.mcp_tool_names),
                trusted_proxies=_networks(values.get("trusted_proxies")),
                audit_retention_days=float(
                    values.get("audit_retention_days", DEFAULTS.audit_retention_days)
                ),
                max_versions=int(values.get("max_versions", DEFAULTS.max_versions)),
                deleted_retention_days=float(
                    values.get("deleted_retention_days", DEFAULTS.deleted_retention_days)
                ),
                metrics=_flag(values.get("metrics", DEFAULTS.metrics)),
                log_format=str(values.get("log_format", DEFAULTS.log_format)).lower(),
                access_log=_flag(values.get("access_log", DEFAULTS.access_log)),
                body_timeout_seconds=float(
                    values.get("body_timeout_seconds", DEFAULTS.body_timeout_seconds)
                ),
                unseal_socket=(
                    Path(values["unseal_socket"]).expanduser().absolute()
                    if values.get("unseal_socket")
                    else None
                ),
                public_url=_public_url(values.get("public_url")),
                webhook_url=_webhook_url(values.get("webhook_url")),
                webhook_secret_file=(
                    Path(values["webhook_secret_file"]).expanduser().absolute()
                    if values.get("webhook_secret_file")
                    else None
                ),
                webhook_secret=_webhook_secret(
                    values.get("webhook_secret"), values.get("webhook_secret_file")
                ),
            )
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Invalid server setting: {exc}") from None
        return settings.validated()

    def validated(self) -> ServerSettings:
        if not 0 < self.port < 65536:
            raise ValidationError("port must be between 1 and 65535.")
        if self.workers < 1:
            raise ValidationError("workers must be at least 1.")
        if not 0 < self.usage_flush_seconds <= 60:
            raise ValidationError("usage flush interval must be between 0 and 60 seconds.")
        if self.auth_cache_seconds < 0:
            raise ValidationError("auth cache seconds must not be negative.")
        if self.mcp_tool_names not in TOOL_NAME_MODES:
            raise ValidationError("MCP tool names must be underscore or dotted.")
        if self.audit_retention_days < 0:
            raise ValidationError("audit retention days must not be negative (0: keep forever).")
        if not 1 <= self.max_versions <= 1000:
            raise ValidationError("max versions must be between 1 and 1000.")
        if self.deleted_retention_days < 0:
            raise ValidationError("deleted retention days must not be negative.")
        if not 0 < self.body_timeout_seconds <= 600:
            raise ValidationError("body timeout must be between 0 and 600 seconds.")
        if self.log_format not in ("text", "json"):
            raise ValidationError("log format must be text or json.")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValidationError("database URL must start with postgresql://.")
        if self.webhook_url and not self.webhook_secret:
            raise ValidationError(
                "A webhook URL needs a signing secret: give --webhook-secret-file (or "
                "LOOMAL_WEBHOOK_SECRET_FILE) or LOOMAL_WEBHOOK_SECRET, so the receiver "
                "can tell the vault's events from anyone else's."
            )
        return self

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / DEFAULT_KEY_FILE

    @property
    def unseal_socket_path(self) -> Path:
        return self.unseal_socket or self.data_dir / "unseal.sock"

    @property
    def browser_url(self) -> str:
        """Where browsers reach the servers (sign-in links, approval and OAuth
        callback URLs): the configured public URL, else this host's address."""
        return self.public_url or self.local_url

    @property
    def local_url(self) -> str:
        """The server's address as a browser on this host reaches it (a wildcard
        listen address becomes loopback)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 (reading a listen address, not binding)
            host = "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url)

    def to_env(self) -> dict[str, str]:
        """These settings as ``LOOMAL_*`` variables, for worker processes."""
        env: dict[str, str] = {}
        for field, var in _ENV.items():
            value = getattr(self, field)
            if field == "webhook_secret" and value is not None:
                # the file's secret stays in the file: workers read it themselves
                value = None if self.webhook_secret_file else value.decode()
            if isinstance(value, tuple):
                value = ",".join(value) or None
            elif isinstance(value, bytes):
                value = base64.b64encode(value).decode()
            elif isinstance(value, bool):
                value = "1" if value else None
            if value is not None:
                env[var] = str(value)
        return env


DEFAULTS = ServerSettings()
"""Every setting's default, stated once (the fields above): `load()` and the
`loomal serve` options read them here."""


def _origins(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """From ``LOOMAL_CORS_ORIGINS`` (comma-separated) or repeated ``--cors-origin``."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(check_origin(item.strip()) for item in items if item.strip())


def _allowances(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """From ``LOOMAL_FETCH_ALLOW_PRIVATE`` (comma-separated) or repeated
    ``--fetch-allow-private``: host names, IP addresses or CIDR networks."""
    from loomal.broker.addresses import check_allowance

    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(check_allowance(item) for item in items if item.strip())


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")


def check_origin(origin: str) -> str:
    """An origin as a browser sends it (``scheme://host[:port]``), or ``*``."""
    if origin != "*" and not _ORIGIN.fullmatch(origin):
        raise ValidationError(
            f"CORS origin {origin!r} must look like https://app.example.com[:port], or be *."
        )
    return origin


def _public_url(value: str | None) -> str | None:
    """``--public-url`` / ``LOOMAL_PUBLIC_URL``: scheme, host, port and a path prefix
    (behind a proxy that serves the vault under one), kept without a trailing slash."""
    if not value:
        return None
    url = str(value).strip().rstrip("/")
    try:
        parts = urlsplit(url)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not (parts.username or parts.password or parts.query or parts.fragment)
            and parts.port != 0  # reading .port checks its range
            and " " not in url
        )
    except ValueError:
        valid = False
    if not valid:
        raise ValidationError(  # not repeated: it might carry a user:password
            "The public URL must look like https://vault.example.com[:port][/path] "
            "(no user, query or fragment)."
        )
    return url


WEBHOOK_SECRET_MIN_LENGTH = 16


def _webhook_url(value: str | None) -> str | None:
    """``--webhook-url`` / ``LOOMAL_WEBHOOK_URL``: https, or plain http to a loopback
    address (a receiver on this host, tests). Never repeated in an error: a webhook
    URL often is a secret itself (a token in its path)."""
    if not value:
        return None
    url = str(value).strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        valid = (
            parts.scheme in ("http", "https")
            and bool(host)
            and not (parts.username or parts.password or parts.fragment)
            and parts.port != 0  # reading .port checks its range
            and " " not in url
        )
    except ValueError:
        valid = False
    if not valid:
        raise ValidationError(
            "The webhook URL must look like https://hooks.example.com/path (no user or fragment)."
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValidationError(
            "The webhook URL must use https (plain http only to a loopback address such as "
            "127.0.0.1): the events travel signed but not encrypted otherwise."
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _webhook_secret(value: str | bytes | None, file: str | Path | None) -> bytes | None:
    """The signing secret: from ``file`` when given (its text, surrounding whitespace
    stripped), else ``value`` (``LOOMAL_WEBHOOK_SECRET``). Used as the HMAC key as
    its UTF-8 bytes, as the hosted Loomal's clients do."""
    if file:
        path = Path(file).expanduser()
        try:
            text = path.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise ValidationError(f"Cannot read the webhook secret file {path}.") from None
        where = f"The webhook secret in {path}"
    elif value:
        text = value.decode() if isinstance(value, bytes) else str(value).strip()
        where = "LOOMAL_WEBHOOK_SECRET"
    else:
        return None
    if len(text) < WEBHOOK_SECRET_MIN_LENGTH:
        raise ValidationError(
            f"{where} is too short: use at least {WEBHOOK_SECRET_MIN_LENGTH} random "
            "characters (e.g. `openssl rand -hex 32`)."
        )
    return text.encode()


def _flag(value: object) -> bool:
    """A boolean flag from a flag (bool) or a variable (``1``/``true``/``yes``/``on``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value")


def _networks(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """From ``LOOMAL_TRUSTED_PROXIES`` (comma-separated) or repeated ``--trusted-proxy``;
    each a CIDR network or a single address, normalised (``10.0.0.0/8``)."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValidationError(
                f"trusted proxy {item!r} must be an address or a CIDR network, e.g. 10.0.0.0/8."
            ) from None
    return tuple(networks)
