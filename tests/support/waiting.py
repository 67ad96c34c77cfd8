"""Waiting in async tests for something another task makes true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], object], timeout: float = 10) -> float:
    """Wait until ``predicate()`` is true, polling every 20 ms; returns the seconds it took.

    Fails the test (``AssertionError``) after ``timeout`` seconds.
    """
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"not true after {timeout} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - start
