"""Time in one place, so tests can reason about it: milliseconds since the epoch."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def monotonic() -> float:
    """Monotonic seconds, for intervals and timeouts."""
    return time.monotonic()
