"""A webhook receiver on 127.0.0.1 for tests: it records every POST as it came
(headers, the raw body) and answers the statuses it was told to, in order (then
200), so a test can show a retry and what each attempt carried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import msgspec

from tests.upstream import LoopbackHTTPServer, serving_in_a_thread


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Receiver:
    port: int
    answers: list[int] = field(default_factory=list)
    """Statuses to answer, first to last; 200 once they run out."""
    seen: list[Delivery] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/loomal"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: Receiver

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.receiver.seen.append(Delivery(self.path, headers, body))
        status = self.receiver.answers.pop(0) if self.receiver.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@contextmanager
def running_receiver(port: int = 0, answers: list[int] | None = None) -> Iterator[Receiver]:
    server = LoopbackHTTPServer(("127.0.0.1", port), _Handler)
    receiver = Receiver(port=server.server_address[1], answers=list(answers or []))
    server.RequestHandlerClass = type("Handler", (_Handler,), {"receiver": receiver})
    with serving_in_a_thread(server):
        yield receiver
