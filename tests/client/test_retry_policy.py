"""The SDK's retry policy, without I/O: which answers are retried and after how long.

The rule, shared with the TypeScript SDK (sdk/typescript/src/http.ts): a
``Retry-After`` up to 8 s is waited out; beyond it the error is raised at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from loomal.client._base import RETRY_AFTER_MAX, calls
from loomal.client.sync import Loomal
from loomal.errors import RateLimitError

LIST = calls.list()


def answer(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = [] if retry_after is None else [(b"Retry-After", retry_after.encode())]
    body = {"error": "rate_limited", "message": "slow down", "status": status}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def client() -> Loomal:
    return Loomal(api_key="loid-" + "k" * 43, base_url="http://127.0.0.1:9", max_retries=2)


def test_the_cap_is_eight_seconds() -> None:
    assert RETRY_AFTER_MAX == 8.0


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_up_to_the_cap_is_waited_out(client: Loomal, status: int) -> None:
    for value, expected in (("0", 0.0), ("1", 1.0), ("8", 8.0), (" 3 ", 3.0)):
        assert client.retry_delay(LIST, 0, answer(status, value)) == expected
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    delay = client.retry_delay(LIST, 0, answer(status, soon))
    assert delay is not None and 3.0 <= delay <= 5.0
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert client.retry_delay(LIST, 0, answer(status, past)) == 0.0


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_beyond_the_cap_stops_the_retries(client: Loomal, status: int) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    for value in ("9", "60", "3600", "9" * 400, later):
        assert client.retry_delay(LIST, 0, answer(status, value)) is None, value


def test_without_a_readable_retry_after_the_backoff_applies(client: Loomal) -> None:
    for value in (None, "", "soon", "1.5", "-1", "²"):  # "²".isdigit(), but no number
        delay = client.retry_delay(LIST, 0, answer(429, value))
        assert delay is not None and 0.125 <= delay <= 0.25, value


def test_the_rate_limit_error_carries_the_servers_retry_after(client: Loomal) -> None:
    error = client.error_for(answer(429, "3600"))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3600
    assert isinstance(client.error_for(answer(429, "9" * 400)), RateLimitError)
