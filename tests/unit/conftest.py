"""Unit tests run on virtual time: every ``async def`` test gets a `VirtualClockLoop`.

A ``sleep``, a retry's backoff or a limiter's window then costs no real time, and what a test
asserts about time is exact. Plain (sync) tests drive their own loop with ``run_virtual``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
from virtual_clock import VirtualClockLoop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"virtual_time": VirtualClockLoop}
