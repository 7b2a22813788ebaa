"""Prometheus metrics at ``/metrics`` (``loomal serve --metrics``), written by hand
in the text exposition format: a few dicts of integers per worker, no
dependency, no shared files.

Why not ``prometheus-client``: its multiprocess mode needs a shared directory
and a collector per scrape; counting here is one dict increment and one bisect
per request (measured in docs/operations.md).

Each worker counts its own requests and answers ``/metrics`` with its own
numbers, labelled ``worker="<pid>"``: with ``--workers N`` a scrape through the
shared port reaches one worker, so scrape each process (or run one worker per
container), and sum in PromQL. Labels hold route templates and status codes,
never a credential or identity name: the template and the method come from the
endpoint table (``EndpointTable.labels``), so every label is bounded.
"""

from __future__ import annotations

import bisect
import os
from typing import TYPE_CHECKING

from loomal.core.outbox_store import OUTBOX_STATES

if TYPE_CHECKING:
    from loomal.runtime import RunningVault
    from loomal.server.responses import ErrorWriter

__all__ = ["METRICS_PATH", "Metrics"]

METRICS_PATH = "/metrics"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Histogram:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_BUCKETS) + 1)
        self.count = 0
        self.total = 0.0


class Metrics:
    """Counters of one worker."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._pid = str(os.getpid())

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = _Histogram()
        histogram.buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        histogram.count += 1
        histogram.total += seconds

    async def render(self, vault: RunningVault | None, errors: ErrorWriter) -> bytes:
        """The text exposition of this worker's metrics and the vault's state."""
        worker = f'worker="{self._pid}"'
        lines = [
            "# HELP loomal_http_requests_total HTTP requests by method, route and status.",
            "# TYPE loomal_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self._requests.items()):
            lines.append(
                f'loomal_http_requests_total{{{worker},method="{method}",route="{route}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP loomal_http_request_duration_seconds Time to answer, by route.",
            "# TYPE loomal_http_request_duration_seconds histogram",
        ]
        for route, h in sorted(self._latency.items()):
            labels = f'{worker},route="{route}"'
            cumulative = 0
            for bound, n in zip((*_BUCKETS, "+Inf"), h.buckets, strict=True):
                cumulative += n
                lines.append(
                    f'loomal_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                    f"{cumulative}"
                )
            lines.append(f"loomal_http_request_duration_seconds_sum{{{labels}}} {h.total:.6f}")
            lines.append(f"loomal_http_request_duration_seconds_count{{{labels}}} {h.count}")
        if vault is not None:
            lines += await _vault_lines(vault, worker, errors)
        return ("\n".join(lines) + "\n").encode()


async def _vault_lines(vault: RunningVault, worker: str, errors: ErrorWriter) -> list[str]:
    lines = [
        "# HELP loomal_sealed 1 while the master keys are sealed.",
        "# TYPE loomal_sealed gauge",
        f"loomal_sealed{{{worker}}} {int(vault.service.sealed)}",
        "# HELP loomal_audit_events_pending Audit events held in memory, not yet written.",
        "# TYPE loomal_audit_events_pending gauge",
        f"loomal_audit_events_pending{{{worker}}} {vault.identities.audit_backlog}",
        "# HELP loomal_store_errors_total Requests that failed on a database error.",
        "# TYPE loomal_store_errors_total counter",
        f"loomal_store_errors_total{{{worker}}} {errors.store_errors}",
    ]
    try:
        wraps = await vault.store.key_wraps()
        webhooks = await vault.store.count_outbox_events()
    except Exception:  # the store is down: the other lines still help
        errors.store_errors += 1
        return lines
    lines += [
        "# HELP loomal_master_key_wraps Data keys each master key wrapped (rotate before 2^32).",
        "# TYPE loomal_master_key_wraps gauge",
    ]
    lines += [f'loomal_master_key_wraps{{key_id="{k}"}} {n}' for k, n in sorted(wraps.items())]
    lines += [
        "# HELP loomal_webhook_events Webhook events in the store, by state (dead: given up "
        "after the last attempt; see `loomal admin webhooks`).",
        "# TYPE loomal_webhook_events gauge",
    ]
    lines += [
        f'loomal_webhook_events{{state="{state}"}} {webhooks.get(state, 0)}'
        for state in OUTBOX_STATES
    ]
    return lines
