"""Faults a simulated device can be told to show, and one device's fault state.

Transport faults (``refuse``, ``hang``, ``garbage``) break the conversation itself; content
faults (``overheat``, ``dead_board``, ``pool_down``) keep the protocol intact and change what
the device reports, as a sick machine does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class Fault(StrEnum):
    """What a simulated device does wrong; ``none`` means healthy."""

    NONE = "none"
    REFUSE = "refuse"  # listener closed; connections still in flight are reset
    HANG = "hang"  # accepts and reads the request, never answers
    GARBAGE = "garbage"  # answers bytes that are not the protocol's JSON
    OVERHEAT = "overheat"  # chip temperatures above 95 °C (XMRig: thermal throttling)
    DEAD_BOARD = "dead_board"  # one hashboard at 0 hashrate and 0 chips (XMRig: stalled threads)
    POOL_DOWN = "pool_down"  # pools "Dead", share counters stop growing

    @classmethod
    def parse(cls, value: str | Fault) -> Fault:
        """``"refuse"`` → ``Fault.REFUSE``; unknown names raise ``ValueError``."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown fault {value!r}; one of: {valid}") from None


FAULTS: tuple[str, ...] = tuple(f.value for f in Fault)

# Not JSON and not HTTP: a TLS-looking prefix, stray NULs and half a cgminer text reply, so
# neither a JSON parser nor a quirk-tolerant one can make sense of it.
GARBAGE_BYTES = (
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x00\xfe\xff"
    b"STATUS=S,When=\x00\x00,Code=1\xff\xfe<?xml version='1.0'?><err\x07\x1b[0m"
)

FaultListener = Callable[[Fault], None]


class FaultState:
    """The fault one device shows now, since when, and who must hear when it changes."""

    __slots__ = ("_clock", "_listeners", "changes", "fault", "since")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Start healthy at ``clock()``."""
        self._clock = clock
        self.fault = Fault.NONE
        self.since = clock()
        self.changes = 0
        self._listeners: list[FaultListener] = []

    def watch(self, listener: FaultListener) -> None:
        """Call ``listener(new_fault)`` after every change (listeners, hung connections)."""
        self._listeners.append(listener)

    def set(self, fault: Fault | str) -> bool:
        """Switch to ``fault``; returns whether anything changed."""
        new = Fault.parse(fault)
        if new is self.fault:
            return False
        self.fault = new
        self.since = self._clock()
        self.changes += 1
        for listener in self._listeners:
            listener(new)
        return True
