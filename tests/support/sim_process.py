"""``hashfleet sim`` in a separate process, as simulated devices on a real network are."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def sim_process(args: Sequence[str], count: int) -> Iterator[list[tuple[str, str, int]]]:
    """Run ``hashfleet sim ARGS``; yields ``(family, address, port)`` of its ``count`` devices."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hashfleet", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        devices = []
        for _ in range(count):
            family, where = proc.stdout.readline().split()
            address, _, port = where.rpartition(":")
            devices.append((family, address, int(port)))
        yield devices
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
