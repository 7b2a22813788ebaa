"""A ``loomal serve`` worker stops once the process that started it is gone.

Why: ``loomal serve`` runs granian workers as child processes. If that parent
is killed outright (SIGKILL, the OOM killer), nothing tells the workers: they
are handed to init and go on answering on the port, keys in memory. A server
its operator believes stopped would still hand out credentials, and the next
``loomal serve`` could not bind its port. So each worker asks once a second
whether its parent is still the one that started it, and when it is not,
stops itself as a stop signal would (SIGTERM: granian finishes the requests
in flight, then the lifespan flushes the audit log and closes the store).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

__all__ = ["PARENT_ENV", "stop_when_orphaned"]

PARENT_ENV = "LOOMAL_SERVE_PID"
"""Set by ``loomal serve`` for its workers: the process id they belong to."""

log = logging.getLogger("loomal.server")


async def stop_when_orphaned(parent: int, *, interval: float = 1.0) -> None:
    """Send this process SIGTERM once its parent is no longer ``parent``."""
    while True:
        if os.getppid() != parent:  # handed to init (or a subreaper): no event tells us
            break
        await asyncio.sleep(interval)
    log.warning("the loomal serve process (pid %d) is gone: this worker stops", parent)
    os.kill(os.getpid(), signal.SIGTERM)
