"""Granian with the listening socket bound before any worker exists.

On Linux granian lets each worker bind its own ``SO_REUSEPORT`` socket once it
has started, so for the second or two a worker takes to import and build the
app, a connection to the port is refused; ``loomal serve`` printed "Listening
on" before that, and a script that connected on that line failed (issue 23).

Here the main process binds and listens on one socket before it forks (the way
granian serves on macOS and Windows); the workers inherit it and accept from it.
From the moment it listens the kernel completes every handshake and queues the
connection in the backlog, so "Listening on", printed from the startup hook that
runs between the bind and the first fork, is true when it appears. The main
process starts no thread of ours before the fork.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from granian._granian import ListenerSpec as SocketSpec
from granian.server.mp import MPServer

__all__ = ["BoundFirstGranian"]


class BoundFirstGranian(MPServer):
    """Granian's process-worker server (what a GIL build of Python runs), whose
    workers share the socket this process bound first; ``on_listening`` runs once
    it accepts connections, before any worker starts."""

    def __init__(self, *args: object, on_listening: Callable[[], None], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.on_startup(on_listening)  # granian runs it after the bind, before the forks

    def _init_shared_socket(self) -> None:
        if self.bind_uds:  # (not used by loomal serve): granian's own way
            super()._init_shared_socket()  # type: ignore[no-untyped-call]
            return
        holder = SocketSpec(self.bind_addr, self.bind_port, self.backlog).build()
        self._ssp = None  # workers take the holder instead of binding their own
        self._shd = holder  # type: ignore[assignment]
        self._sfd = holder.get_fd()
        shared = socket.socket(fileno=self._sfd)
        shared.set_inheritable(True)
        shared.listen(self.backlog)  # the holder is bound only: accept from now on
        shared.setblocking(False)  # the workers' event loops accept from it
        self._sso = shared
