"""The unseal agent: how one ``loomal serve`` with a sealed key file holds its
master keys and hands them to its worker processes.

An unseal request reaches one process, but any worker may serve the next
request. So the parent ``loomal serve`` process keeps the unsealed keys (and
the derived key-encryption key, to follow rotations of the sealed file) and
listens on a Unix socket (mode 0600, in the 0700 data directory):

    unseal  {"passphrase"}       derive, open the file, check the keys open the store
    seal    {}                   forget every key; workers follow within a second
    status  {}                   sealed or not, and the key ids
    keys    {"token", "version"} the keys, for this server's own workers only

Workers ask for ``keys`` at start, once a second, and at once when a request
meets a sealed vault (at most every 50 ms), so the request right after a
successful ``loomal admin unseal`` is served. ``keys`` needs a random token
that only the parent and its workers know (it reaches them through their
environment); the other operations need the passphrase or are harmless.
Every connection must come from the server's own user (checked with
SO_PEERCRED where the platform has it).

Errors keep their meaning across the socket: a client that cannot reach the
agent gets a :class:`~loomal.errors.ConnectionError`, a refused peer or token a
:class:`~loomal.errors.PermissionDeniedError`, and an error the agent answers
with is rebuilt as the same class (:func:`~loomal.errors.error_from_status`).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import os
import secrets
import socket
import socketserver
import stat
import struct
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from loomal.core.crypto import Keyring, derive_key_id
from loomal.core.keys import ordered_key_ids
from loomal.errors import (
    ConnectionError,  # noqa: A004 - the error tree's name for "could not reach"
    LoomalError,
    PermissionDeniedError,
    ServerError,
    ValidationError,
    error_from_status,
)
from loomal.keyfile import KeyFileWatcher, read_sealed_keys

__all__ = [
    "TOKEN_ENV",
    "AgentKeySource",
    "UnsealAgent",
    "agent_request",
]

log = logging.getLogger("loomal.unseal")

TOKEN_ENV = "LOOMAL_UNSEAL_TOKEN"
_MAX_MESSAGE = 64 * 1024
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_FORCED_CHECK_INTERVAL = 0.05
_LISTEN_BACKLOG = 128
"""Connections waiting to be accepted: every worker asks at once after an unseal,
and socketserver's default (5) made the sixth concurrent client fail at connect."""
_STOP_POLL_SECONDS = 0.05
"""How often the agent's accept loop looks for a stop: closing it (every stop of
``loomal serve``) waits up to this long; socketserver's default, half a second,
was most of the time a test of the agent took."""


def agent_request(path: Path, message: Mapping[str, Any], *, timeout: float = 30) -> Any:
    """One request to the agent at ``path``; its error becomes the same LoomalError."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(msgspec.json.encode(message) + b"\n")
            reply = _read_line(sock)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ConnectionError(
            f"No sealed server is listening at {path} (is `loomal serve` running with a "
            "sealed key file and this data directory?)"
        ) from None
    except OSError as exc:
        raise ConnectionError(f"Could not talk to the server at {path}: {exc.strerror}") from None
    if not reply:
        raise ConnectionError(f"The server at {path} closed the connection without answering.")
    try:
        body = msgspec.json.decode(reply)
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, dict):
        raise ServerError("The unseal agent sent an unexpected answer.")
    if "error" in body:
        error = body["error"]
        raise error_from_status(error["status"], error["code"], error["message"])
    return body


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > _MAX_MESSAGE:
            break
    return b"".join(chunks)


class UnsealAgent:
    """Held by the parent ``loomal serve``; see the module docstring.

    ``check_keys`` gets the unsealed key ids (primary first) and raises if they
    cannot serve this store.
    """

    def __init__(
        self,
        key_file: Path,
        socket_path: Path,
        check_keys: Callable[[list[str]], None],
        *,
        client_timeout: float = 10,
    ) -> None:
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            raise ValidationError(
                f"The unseal socket path {socket_path} is too long for a Unix socket; set "
                "--unseal-socket (LOOMAL_UNSEAL_SOCKET) to a shorter path."
            )
        self.key_file = key_file
        self.socket_path = socket_path
        self.token = secrets.token_urlsafe(32)
        self._check_keys = check_keys
        self.client_timeout = client_timeout
        """A client that connects and says nothing is dropped after this long."""
        self._state = threading.Lock()
        self._unsealing = threading.Lock()  # one Argon2 derivation (64 MiB) at a time
        self._keys: list[bytes] | None = None
        self._watcher: KeyFileWatcher[list[bytes]] | None = None
        """Follows rotations of the file, opening it with the key derived at the unseal."""
        self._version = 0
        self._server: _AgentServer | None = None

    def __repr__(self) -> str:
        return f"UnsealAgent(socket={str(self.socket_path)!r}, sealed={self.sealed})"

    @property
    def sealed(self) -> bool:
        return self._keys is None

    # -- operations ----------------------------------------------------------------

    def unseal(self, passphrase: str) -> list[str]:
        """Open the sealed key file; refuse keys that do not open this store."""
        with self._unsealing:
            try:  # the file as it is now: a rotation from here on is followed
                watcher = KeyFileWatcher(
                    self.key_file, lambda path: read_sealed_keys(path).unlock(kek)
                )
            except OSError as exc:
                raise ValidationError(f"Key file {self.key_file}: {exc.strerror}") from None
            sealed = read_sealed_keys(self.key_file)
            kek = sealed.kdf.derive(passphrase)  # bound before the watcher first reads
            keys = sealed.unlock(kek)
            ids = [derive_key_id(key) for key in keys]
            self._check_keys(ids)
            with self._state:
                self._keys, self._watcher = keys, watcher
                self._version += 1
        log.info("unsealed: master keys %s", ", ".join(ids))
        return ids

    def seal(self) -> bool:
        """Forget the keys; False if there were none."""
        with self._state:
            if self._keys is None:
                return False
            self._keys = self._watcher = None
            self._version += 1
        return True

    def status(self) -> dict[str, Any]:
        with self._state:
            keys = self._keys
        return {
            "sealed": keys is None,
            "keyIds": [] if keys is None else [derive_key_id(k) for k in keys],
        }

    def keys_for_worker(self, token: str, known_version: int) -> dict[str, Any]:
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise PermissionDeniedError("Wrong worker token.", code="forbidden")
        self._follow_key_file()
        with self._state:
            version, keys = self._version, self._keys
        answer: dict[str, Any] = {"version": version, "sealed": keys is None}
        if keys is not None and version != known_version:
            answer["keys"] = [base64.b64encode(key).decode() for key in keys]
        return answer

    def _follow_key_file(self) -> None:
        """Adopt a rotation: the file was rewritten under the same passphrase (a
        passphrase change is logged; the keys held stay right)."""
        with self._state:
            watcher = self._watcher
        keys = None if watcher is None else watcher.reload_if_changed()
        if keys is not None:
            with self._state:
                if self._watcher is watcher:  # not sealed or unsealed again meanwhile
                    self._keys = keys
                    self._version += 1

    # -- the socket ------------------------------------------------------------------

    def start(self) -> None:
        """Listen (refusing to steal the socket of another running server)."""
        path = self.socket_path
        if path.exists():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise ValidationError(f"{path} exists and is not a socket.")
            try:
                agent_request(path, {"op": "status"}, timeout=2)
            except LoomalError:
                path.unlink()  # left by a server that was killed
            else:
                raise ValidationError(
                    f"Another server's unseal agent listens at {path}; give this one its own "
                    "--unseal-socket or --data-dir."
                )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window for others
        try:
            server = _AgentServer(str(path), _handler_for(self))
        finally:
            os.umask(old_umask)
        self._server = server
        threading.Thread(
            target=server.serve_forever,
            args=(_STOP_POLL_SECONDS,),
            name="loomal-unseal",
            daemon=True,
        ).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            self._server = None
        self.seal()

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise ValidationError("Requests are JSON objects.")
        op = request.get("op")
        if op == "status":
            return self.status()
        if op == "unseal":
            passphrase = request.get("passphrase")
            if not isinstance(passphrase, str):
                raise ValidationError("unseal needs a passphrase.")
            return {"sealed": False, "keyIds": self.unseal(passphrase)}
        if op == "seal":
            if self.seal():
                log.warning("sealed: the master keys are no longer held; vault routes answer 503")
            return {"sealed": True}
        if op == "keys":
            token, version = request.get("token"), request.get("version")
            if not isinstance(token, str) or not isinstance(version, int):
                raise ValidationError("keys needs a token and a version.")
            return self.keys_for_worker(token, version)
        raise ValidationError("Unknown operation.")


class _AgentServer(socketserver.ThreadingUnixStreamServer):
    request_queue_size = _LISTEN_BACKLOG
    daemon_threads = True


def _handler_for(agent: UnsealAgent) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        timeout = agent.client_timeout

        def handle(self) -> None:
            try:
                _check_peer(self.connection)
                line = self.rfile.readline(_MAX_MESSAGE)
                try:
                    request = msgspec.json.decode(line)
                except msgspec.DecodeError:
                    raise ValidationError("Requests are one JSON object per line.") from None
                answer = agent.handle(request)
            except TimeoutError:
                return
            except LoomalError as exc:
                answer = {
                    "error": {"code": exc.code, "message": exc.message, "status": exc.http_status}
                }
            except Exception as exc:  # the agent keeps serving; the text could hold a value
                log.error("unseal agent request failed: %s", type(exc).__name__)
                answer = {
                    "error": {"code": "internal_error", "message": "Internal error.", "status": 500}
                }
            with contextlib.suppress(OSError):
                self.wfile.write(msgspec.json.encode(answer) + b"\n")

    return Handler


def _check_peer(connection: socket.socket) -> None:
    """Only the server's own user (or root) may talk to its agent."""
    if not hasattr(socket, "SO_PEERCRED"):  # pragma: no cover - not Linux: mode 0600 only
        return
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    if uid not in (os.getuid(), 0):
        raise PermissionDeniedError("Not the server's user.", code="forbidden")


class AgentKeySource:
    """A worker's :class:`~loomal.core.keys.KeySource`: its parent's agent, asked
    for the keys at start, once a second, and (throttled) when a request meets a
    sealed vault."""

    def __init__(
        self, socket_path: Path, token: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.socket_path = socket_path
        self._token = token
        self._clock = clock
        self._version = -1
        self._keyring: Keyring | None = None
        self._last_check = 0.0
        self._failing = False

    def __repr__(self) -> str:
        return f"AgentKeySource(socket={str(self.socket_path)!r})"

    @classmethod
    def from_env(
        cls,
        socket_path: Path,
        env: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> AgentKeySource | None:
        """Set up by ``loomal serve`` for its workers when the key file is sealed."""
        token = env.get(TOKEN_ENV)
        return None if not token else cls(socket_path, token, clock=clock)

    @property
    def description(self) -> str:
        return f"sealed key file, unsealed through {self.socket_path}"

    def current(self) -> Keyring | None:
        """The keys the agent holds (None while sealed); the first call asks it,
        and fails the worker's start if it does not answer."""
        if self._version < 0:
            self._ask()
        return self._keyring

    def reload(self, force: bool = False) -> bool:
        since = self._clock() - self._last_check
        if force and 0 <= since < _FORCED_CHECK_INTERVAL:  # a clock set back: ask
            return False
        try:
            return self._ask()
        except LoomalError as exc:
            if not self._failing:
                log.error("could not reach the unseal agent: %s", exc.message)
            self._failing = True
            return False

    def key_ids(self) -> list[str]:
        keyring = self.current()
        return [] if keyring is None else ordered_key_ids(keyring)

    def _ask(self) -> bool:
        self._last_check = self._clock()
        answer = agent_request(
            self.socket_path,
            {"op": "keys", "token": self._token, "version": self._version},
            timeout=2,
        )
        self._failing = False
        if answer["version"] == self._version:
            return False
        self._version = answer["version"]
        self._keyring = (
            None
            if answer["sealed"]
            else Keyring.from_keys(*(base64.b64decode(key) for key in answer["keys"]))
        )
        return True
