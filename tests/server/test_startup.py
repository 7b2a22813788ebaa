"""``loomal serve`` says "Listening on" only once the port accepts connections
(issue 23: it said so about 1.7 s early, and a call made on the line was refused)."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow  # starts real server processes


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_call_made_the_instant_the_line_appears_is_answered(tmp_path: Path, workers: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loomal", "serve", "--port", str(port), "--workers", workers,
         "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.startswith("Listening on"):
                break
        else:
            raise AssertionError("loomal serve exited before listening")
        answers = []
        for _ in range(3):  # at once: no retry, no wait; a refused connection fails here
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/v0/health")
            answers.append(connection.getresponse().status)
            connection.close()
        assert answers == [200, 200, 200]
    finally:  # (a worker may still be starting: a clean stop would wait for it)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
