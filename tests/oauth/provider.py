"""A small OAuth 2.0 provider on 127.0.0.1 for the OAuth tests, as strict as the
strictest real ones: authorization code with PKCE (S256 checked), refresh-token
rotation with reuse detection that revokes the whole token family, short-lived
access tokens judged by an injected clock, and switches for 5xx answers and for
holding token requests until a test releases them (a "slow" provider, without
anything sleeping). Every grant is counted, so a test can say how many refreshes
the provider saw and whether any family was revoked."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.upstream import LoopbackHTTPServer, serving_in_a_thread

CLIENT_ID = "loomal-test-client"
CLIENT_SECRET = "cs-" + "Pv7" * 10


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    used: bool = False


@dataclass
class ProviderState:
    """What the provider holds and counts; guarded by ``lock`` (one thread a request)."""

    clock: Callable[[], float]
    ttl: int = 3600
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh_family: dict[str, str] = field(default_factory=dict)
    """refresh token -> its family."""
    used_refresh: set[str] = field(default_factory=set)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)
    """access token -> (family, expires at)."""
    revoked_families: set[str] = field(default_factory=set)
    refreshes: int = 0
    code_exchanges: int = 0
    reuse_detected: int = 0
    failing: int | None = None
    """Answer every token request with this status (a 5xx) while set."""
    gate: threading.Event = field(default_factory=threading.Event)
    waiting: int = 0
    """Token requests held at the gate right now."""
    arrived: threading.Condition = field(default_factory=threading.Condition)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()

    def issue_family(self, scope: str = "read") -> tuple[str, str]:
        """A fresh (access token, refresh token) pair, as if a person had connected."""
        with self.lock:
            family = secrets.token_hex(8)
            return self._issue(family, scope)["access_token"], self.refresh_tokens(family)[-1]

    def refresh_tokens(self, family: str) -> list[str]:
        return [t for t, f in self.refresh_family.items() if f == family]

    def is_live(self, access_token: str) -> bool:
        """Whether the token would be accepted now: known, unexpired, family not revoked."""
        with self.lock:
            found = self.access.get(access_token)
            if found is None:
                return False
            family, expires_at = found
            return family not in self.revoked_families and expires_at > self.clock()

    def hold(self) -> None:
        """Hold every token request until :meth:`release`."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def wait_for_held(self, count: int = 1, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: self.waiting >= count, timeout)

    def _issue(self, family: str, scope: str) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(16)
        refresh = "rt-" + secrets.token_urlsafe(16)
        self.access[access] = (family, self.clock() + self.ttl)
        self.refresh_family[refresh] = family
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.ttl,
            "refresh_token": refresh,
            "scope": scope,
        }

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, Any]:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        with self.lock:
            if self.clients.get(client_id) != secret:
                return 401, {"error": "invalid_client"}
            grant = form.get("grant_type")
            if grant == "refresh_token":
                return self._refresh(form.get("refresh_token", ""), form.get("scope", "read"))
            if grant == "authorization_code":
                return self._exchange(client_id, form)
            return 400, {"error": "unsupported_grant_type"}

    def _refresh(self, token: str, scope: str) -> tuple[int, Any]:
        family = self.refresh_family.get(token)
        if family is None or family in self.revoked_families:
            return 400, {"error": "invalid_grant", "error_description": f"bad token {token}"}
        if token in self.used_refresh:  # reuse: someone raced; revoke everyone
            self.reuse_detected += 1
            self.revoked_families.add(family)
            return 400, {"error": "invalid_grant", "error_description": f"reused {token}"}
        self.used_refresh.add(token)
        self.refreshes += 1
        return 200, self._issue(family, scope)

    def _exchange(self, client_id: str, form: dict[str, str]) -> tuple[int, Any]:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used or code.client_id != client_id:
            return 400, {"error": "invalid_grant"}
        code.used = True
        verifier = form.get("code_verifier", "")
        if code.redirect_uri != form.get("redirect_uri") or s256(verifier) != code.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE check failed"}
        self.code_exchanges += 1
        return 200, self._issue(secrets.token_hex(8), code.scope)

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """Approve at once (the person always says yes): the redirect back, or 400."""
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, "PKCE S256 is required"
        if query.get("client_id") not in self.clients or query.get("response_type") != "code":
            return 400, "unknown client"
        code = secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = _Code(
                query["client_id"],
                query.get("redirect_uri", ""),
                query["code_challenge"],
                query.get("scope", ""),
            )
        back = urlencode({"code": code, "state": query.get("state", "")})
        return 302, f"{query.get('redirect_uri', '')}?{back}"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass
class Provider:
    port: int
    state: ProviderState

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def authorize_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/authorize"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ProviderState

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != "/authorize":
            return self._send(404, b"", {})
        status, where = self.state.authorize(query)
        if status == 302:
            return self._send(302, b"", {"Location": where})
        return self._send(status, where.encode(), {"Content-Type": "text/plain"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode("ascii", "replace")
        state = self.state
        with state.arrived:
            state.waiting += 1
            state.arrived.notify_all()
        state.gate.wait()
        with state.arrived:
            state.waiting -= 1
        if state.failing is not None:
            body = b"<html>upstream exploded, refresh_token=" + raw.encode() + b"</html>"
            return self._send(state.failing, body, {"Content-Type": "text/html"})
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        basic = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            basic = (user, password)
        status, answer = state.token(form, basic)
        self._send(status, json.dumps(answer).encode(), {"Content-Type": "application/json"})


@contextmanager
def running_provider(clock: Callable[[], float], *, ttl: int = 3600) -> Iterator[Provider]:
    state = ProviderState(clock=clock, ttl=ttl)
    handler = type("Handler", (_Handler,), {"state": state})
    server = LoopbackHTTPServer(("127.0.0.1", 0), handler)
    with serving_in_a_thread(server):
        try:
            yield Provider(server.server_address[1], state)
        finally:
            state.release()
