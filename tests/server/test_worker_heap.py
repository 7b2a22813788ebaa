"""A ``loomal serve`` worker freezes what start-up left alive, so that full garbage
collections stop walking it (they paused a worker for tens of milliseconds: the
slowest 1% of requests under load), and thaws it on the way out."""

from __future__ import annotations

import base64
import gc
import os
from pathlib import Path

import pytest
from litestar.testing import TestClient

from loomal.server.app import create_app, create_app_from_env


def test_a_worker_serves_with_its_start_up_heap_frozen_and_thaws_it_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOMAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOOMAL_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    try:
        with TestClient(create_app_from_env()) as client:
            assert client.get("/v0/health").status_code == 200
            assert gc.get_freeze_count() > 10_000  # the framework, the table, the store
            assert gc.get_threshold()[0] > thresholds[0]
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds
    finally:  # whatever happened, the next test's collector works as before
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_an_app_built_in_process_leaves_the_collector_alone(tmp_path: Path) -> None:
    from loomal.config import ServerSettings

    settings = ServerSettings.load(
        {"data_dir": str(tmp_path / "data")},
        env={"LOOMAL_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()},
    )
    with TestClient(create_app(settings=settings)) as client:
        assert client.get("/v0/health").status_code == 200
        assert gc.get_freeze_count() == 0
