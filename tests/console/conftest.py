"""The console tests' browser: one chromium per test module (see browsing.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.browsing import launch_browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()
