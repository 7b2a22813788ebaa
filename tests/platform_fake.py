"""A stand-in for the platform API (``/v0/platform/identities``) with the hosted
shapes, in memory: what the SDK, CLI and MCP tests talk to until the server has
the routes. :class:`FakePlatform` answers requests as data (for an
``httpx.MockTransport``); :func:`serve_fake_platform` serves it on 127.0.0.1 for
tests that start processes. It records every request it saw."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

PLATFORM_KEY = "lopk-" + "P" * 43
KNOWN_SCOPES = ("vault:read", "vault:write", "vault:use")
PREFIX = "/v0/platform/identities"


@dataclass
class FakePlatform:
    key: str = PLATFORM_KEY
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[tuple[str, str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def handle(
        self, method: str, target: str, body: Any, authorization: str | None
    ) -> tuple[int, Any]:
        """(status, JSON body or None) for one request."""
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.seen.append((method, url.path + (f"?{url.query}" if url.query else ""), body))
        if authorization != f"Bearer {self.key}":
            return 401, _error(401, "unauthorized", "A valid platform key is required.")
        if not url.path.startswith(PREFIX):
            return 404, _error(404, "not_found", "Not found.")
        rest = [unquote(p) for p in url.path[len(PREFIX) :].split("/") if p]
        if not rest:
            if method == "POST":
                return self._create(body or {})
            if method == "GET":
                return self._list(query)
        elif (found := self.identities.get(rest[0])) is None:
            return 404, _error(404, "not_found", "No such identity.")
        elif rest[1:] == ["rotate-key"] and method == "POST":
            found["_key"] = f"loid-rotated-{next(self._ids)}" + "r" * 30
            return 200, {"rawKey": found["_key"], "apiKeyPrefix": found["_key"][:13]}
        elif len(rest) == 1 and method == "GET":
            return 200, {**_public(found), "apiKeyPrefix": found["_key"][:13]}
        elif len(rest) == 1 and method == "PATCH":
            return self._update(found, body or {})
        elif len(rest) == 1 and method == "DELETE":
            del self.identities[rest[0]]
            return 204, None
        return 405, _error(405, "method_not_allowed", "Method not allowed.")

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        n = next(self._ids)
        scopes = body.get("scopes") or ["vault:read", "vault:write"]
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown:
            return 422, _error(422, "validation_error", f"scopes: unknown {', '.join(unknown)}")
        identity: dict[str, Any] = {
            "identityId": f"id-{n:04d}",
            "name": body.get("name") or f"calm-river-{n}",
            "type": "AGENT",
            "purpose": body.get("purpose") or "BUYER",
            "email": None,
            "scopes": sorted(scopes),
            "usageCount": 0,
            "lastUsedAt": None,
            "createdAt": f"2026-01-01T00:00:{n % 60:02d}Z",
            "_key": f"loid-fake-{n:04d}" + "k" * 34,
        }
        self.identities[identity["identityId"]] = identity
        created = {k: v for k, v in _public(identity).items() if k != "email"}
        return 201, {
            **created,
            "emailAddress": None,
            "apiKeyPrefix": identity["_key"][:13],
            "rawKey": identity["_key"],
        }

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        limit = int(query.get("limit", "50"))
        start = int(query.get("pageToken", "0"))
        every = sorted(self.identities.values(), key=lambda i: i["identityId"])
        page = every[start : start + limit]
        answer: dict[str, Any] = {"identities": [_public(i) for i in page], "count": len(page)}
        if start + limit < len(every):
            answer["nextPageToken"] = str(start + limit)
        return 200, answer

    def _update(self, found: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        if "name" in body:
            found["name"] = body["name"]
        scopes = set(found["scopes"]) | set(body.get("addScopes") or [])
        scopes -= set(body.get("removeScopes") or [])
        found["scopes"] = sorted(s for s in scopes if s in KNOWN_SCOPES)
        return 200, _public(found)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering from this fake: no socket at all."""

        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content) if request.content else None
            target = request.url.raw_path.decode()
            status, payload = self.handle(
                request.method, target, body, request.headers.get("authorization")
            )
            if payload is None:
                return httpx.Response(status)
            return httpx.Response(status, json=payload)

        return httpx.MockTransport(answer)


def _public(identity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if not k.startswith("_")}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": code, "message": message, "status": status}


@contextmanager
def serve_fake_platform(fake: FakePlatform | None = None) -> Iterator[tuple[FakePlatform, str]]:
    """The fake on 127.0.0.1 at a free port: (the fake, its base URL)."""
    platform = fake or FakePlatform()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, payload = platform.handle(
                self.command, self.path, body, self.headers.get("authorization")
            )
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield platform, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
