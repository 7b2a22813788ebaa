"""A TCP relay between a server and PostgreSQL that counts round trips.

The product is not changed to be counted: the server is pointed at this relay
(``postgresql://...@127.0.0.1:<relay port>/db``), which forwards every byte
both ways and parses only the frontend (client to server) protocol. A round
trip ends with a ``Sync`` ('S': the end of an extended-query batch, including a
pipeline) or a simple ``Query`` ('Q'): each is one wait for the database.

Connect through it with ``sslmode=disable``: TLS would hide the messages.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter
from collections.abc import Callable

_UNTYPED_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: another untyped follows
_ROUND_TRIP_ENDS = (b"S", b"Q")


def _label(query: bytes) -> str:
    """The start of a statement, whitespace collapsed: enough to tell statements apart."""
    return " ".join(query.decode(errors="replace").split())[:60]


class FrontendParser:
    """Splits the client side of one connection into messages, counting their types and
    the statements executed (a prepared statement's text is taken from its Parse)."""

    def __init__(self, counts: Counter[bytes], statements: Counter[str] | None = None) -> None:
        self._counts = counts
        self._statements: Counter[str] = Counter() if statements is None else statements
        self._buffer = bytearray()
        self._startup = True
        self._prepared: dict[bytes, str] = {}
        self._bound = ""

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._startup:  # Int32 length (itself included), Int32 code, body
                if len(self._buffer) < 8:
                    return
                length, code = struct.unpack_from("!ii", self._buffer)
                if len(self._buffer) < length:
                    return
                del self._buffer[:length]
                self._startup = code in _UNTYPED_REQUESTS
                continue
            if len(self._buffer) < 5:  # Byte1 type, Int32 length (itself included), body
                return
            (length,) = struct.unpack_from("!i", self._buffer, 1)
            if len(self._buffer) < 1 + length:
                return
            kind = bytes(self._buffer[:1])
            self._counts[kind] += 1
            if kind in (b"Q", b"P", b"B", b"E"):
                self._observe(kind, bytes(self._buffer[5 : 1 + length]))
            del self._buffer[: 1 + length]

    def _observe(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":  # query text
            self._statements[_label(body.split(b"\0", 1)[0])] += 1
        elif kind == b"P":  # statement name, query text, ...
            name, query = body.split(b"\0", 2)[:2]
            self._prepared[name] = _label(query)
        elif kind == b"B":  # portal name, statement name, ...
            self._bound = self._prepared.get(body.split(b"\0", 2)[1], "?")
        else:  # Execute: the bound statement runs
            self._statements[self._bound] += 1


class CountingRelay:
    """Listens on loopback, forwards to ``target``; runs its own loop in a thread."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        self._target = (target_host, target_port)
        self.counts: Counter[bytes] = Counter()
        self.statements: Counter[str] = Counter()
        """Statements executed, by their first words, over all connections."""
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgwire-relay", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def round_trips(self) -> int:
        return sum(self.counts[t] for t in _ROUND_TRIP_ENDS)

    def start(self) -> CountingRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting relay did not start")
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        parser = FrontendParser(self.counts, self.statements)
        await asyncio.gather(
            _pipe(client_r, server_w, parser.feed),
            _pipe(server_r, client_w, None),
            return_exceptions=True,
        )


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    observe: Callable[[bytes], None] | None,
) -> None:
    try:
        while data := await reader.read(65536):
            if observe is not None:
                observe(data)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
