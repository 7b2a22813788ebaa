"""A real HTTP server on 127.0.0.1 that brokered-request tests send to: it echoes
what it received (so scrubbing is exercised), redirects, answers large or
binary bodies, and imitates two OpenAI endpoints. It records every request,
so a test can show that a refused request never reached it."""

from __future__ import annotations

import base64
import gzip
import json
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.broker.echo_forms import FORMS

VENDOR_KEY = "sk-test-" + "Zq9" * 12
"""The vendor key the OpenAI imitation expects (stored in the vault by tests)."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    port: int
    seen: list[Seen] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: Upstream

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def _answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.upstream.seen.append(Seen(self.command, self.path, headers, body))
        route = url.path
        if route == "/echo":
            auth = headers.get("authorization", "")
            secret = auth.split(" ", 1)[-1]
            echoed = {
                "method": self.command,
                "path": url.path,
                "query": url.query,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
                "b64": base64.b64encode(secret.encode()).decode(),
                "urlsafe": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
                "quoted": quote(secret, safe=""),
            }
            self._answer(200, json.dumps(echoed).encode(), headers={"X-Echo-Auth": auth})
        elif route == "/encoded":
            encoding = query["encoding"][0]
            said = f"auth: {headers.get('authorization', '')}".encode()
            packed = zlib.compress(said) if encoding == "deflate" else gzip.compress(said)
            self._answer(200, packed, "text/plain", headers={"Content-Encoding": encoding})
        elif route == "/form":
            # the injected secret (query k), written back in one encoding, in body and header
            written = FORMS[query["name"][0]](query["k"][0])
            echo_header = f"<<{written}>>".encode().decode("latin-1")  # its UTF-8 bytes
            self._answer(
                200, f"<<{written}>>".encode(), "text/plain; charset=utf-8",
                headers={"X-Echo": echo_header},
            )  # fmt: skip
        elif route == "/headers":
            # whatever headers the test asks for, from the query (name=value pairs)
            self._answer(200, b"<html>hi</html>", "text/html", headers=dict(
                pair.split("=", 1) for pair in query.get("h", [])))  # fmt: skip
        elif route == "/redirect":
            self._answer(
                int(query.get("status", ["302"])[0]), b"", headers={"Location": query["to"][0]}
            )
        elif route == "/big":
            self._answer(200, b"x" * int(query["n"][0]), "text/plain")
        elif route == "/chunked":
            n = int(query["n"][0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            sent = 0
            while sent < n:
                piece = chunk[: min(len(chunk), n - sent)]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
        elif route == "/truncated":
            # announces n bytes, sends `sent` of them, and hangs up
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", query["n"][0])
            self.end_headers()
            self.wfile.write(b"t" * int(query["sent"][0]))
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the rest never comes
        elif route == "/binary":
            self._answer(200, bytes(range(256)), "application/octet-stream")
        elif route.startswith("/v1/"):
            self._openai(route, headers, body)
        else:
            self._answer(404, b'{"error": "no such path"}')

    def _openai(self, route: str, headers: dict[str, str], body: bytes) -> None:
        if headers.get("authorization") != f"Bearer {VENDOR_KEY}":
            error = {
                "error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            }
            self._answer(401, json.dumps(error).encode())
            return
        if route == "/v1/models":
            models = {
                "object": "list",
                "data": [
                    {"id": "gpt-test", "object": "model", "created": 0, "owned_by": "loomal-tests"}
                ],
            }
            self._answer(200, json.dumps(models).encode())
            return
        if route == "/v1/chat/completions":
            request = json.loads(body)
            # Echo the Authorization header back in the reply: a hostile or buggy upstream.
            said = request["messages"][-1]["content"]
            content = f"you said {said}; auth was {headers['authorization']}"
            reply = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": request["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._answer(200, json.dumps(reply).encode())
            return
        self._answer(404, b'{"error": {"message": "unknown"}}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class LoopbackHTTPServer(ThreadingHTTPServer):
    """The threaded test server with a listen queue deep enough for a test's burst.

    ``socketserver`` listens with a queue of 5: when more connections than that
    arrive at once (ten agents fetching through the broker), Linux drops the SYNs
    that do not fit and the clients send them again only after the initial
    retransmission timeout, one second. A test of fifty agents spent 19 of its
    21 s in those waits."""

    request_queue_size = 128
    daemon_threads = True


@contextmanager
def serving_in_a_thread(server: ThreadingHTTPServer) -> Iterator[None]:
    """Serve ``server`` on a thread of the test's own process for the block.

    Each blocking call of that thread gives up the GIL and must get it back from
    the test's event loop, which hands it over only every switch interval (5 ms by
    default) while it runs: a test making hundreds of requests waited seconds for
    nothing (one OAuth test: 13.5 s, 1.8 s with a 0.5 ms interval). The interval is
    shortened while the server serves."""
    # a short poll: shutdown() waits up to one poll interval, at every test's end
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        sys.setswitchinterval(before)


@contextmanager
def running_upstream() -> Iterator[Upstream]:
    """The upstream on 127.0.0.1, a free port, for the duration of the block."""
    server = LoopbackHTTPServer(("127.0.0.1", 0), _Handler)
    upstream = Upstream(port=server.server_address[1])
    handler = type("Handler", (_Handler,), {"upstream": upstream})
    server.RequestHandlerClass = handler
    with serving_in_a_thread(server):
        yield upstream
