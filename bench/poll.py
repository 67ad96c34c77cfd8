"""Device polls per second per core, for each family against its simulator, beside pyasic.

The simulators run in a separate ``hashfleet sim`` process, so this process's CPU time is
the client's alone. For each family, N simulated devices are polled round after round
(all N concurrently, as the agent does) for a fixed time, first by our driver, then, for
families pyasic supports, by pyasic's ``get_data()`` on the same devices, in the same run.
"polls/s/core" is polls completed per CPU-second of this process.

    python bench/poll.py [--families antminer,xmrig,...] [--devices 50] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hashfleet.drivers.base import Driver, DriverOptions
from hashfleet.drivers.registry import create_driver

# Families whose simulators pyasic can read (identified by get_miner, read by get_data).
PYASIC_FAMILIES = {"antminer", "whatsminer", "avalon", "braiins", "luxos", "vnish", "iceriver"}
DEFAULT_FAMILIES = "antminer,xmrig"


@dataclass
class Result:
    """Polls done, errors, CPU and wall seconds of one client on one family."""

    polls: int = 0
    errors: int = 0
    cpu: float = 0.0
    wall: float = 0.0

    @property
    def per_core(self) -> float:
        """Polls per CPU-second."""
        return self.polls / self.cpu if self.cpu else 0.0


def start_sims(
    family: str, n: int, ip_base: str
) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    """``hashfleet sim`` with ``n`` devices of ``family`` on a control port; their opts."""
    control = f"{ip_base.rsplit('.', 1)[0]}.250:18999"
    args = (
        ["--antminer", str(n)]
        if family == "antminer"
        else (["--xmrig", str(n)] if family == "xmrig" else ["--device", f"{family}={n}"])
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hashfleet", "sim", *args, "--ip-base", ip_base,
         "--control", control],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(n + 1):
        proc.stdout.readline()
    import httpx

    devices = httpx.get(f"http://{control}/devices", timeout=30).json()
    return proc, [d["opts"] for d in devices]


async def run_rounds(polls: list[Callable[[], Awaitable[Any]]], seconds: float) -> Result:
    """Poll every device concurrently, round after round, for ``seconds``."""
    result = Result()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    deadline = wall0 + seconds
    while time.perf_counter() < deadline:
        outcomes = await asyncio.gather(*(p() for p in polls), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                result.errors += 1
            else:
                result.polls += 1
    result.cpu = time.process_time() - cpu0
    result.wall = time.perf_counter() - wall0
    return result


async def bench_ours(opts: list[dict[str, Any]], seconds: float) -> Result:
    """Our drivers, one per device."""
    drivers: list[Driver] = [create_driver(DriverOptions(**o, timeout=5.0)) for o in opts]
    try:
        await asyncio.gather(*(d.collect() for d in drivers))  # warm: sessions, modes
        return await run_rounds([d.collect for d in drivers], seconds)
    finally:
        for d in drivers:
            await d.close()


async def bench_pyasic(opts: list[dict[str, Any]], seconds: float) -> Result | None:
    """pyasic's get_data() on the same devices (identified once, not timed)."""
    try:
        import pyasic
    except ImportError:
        return None
    logging.getLogger("pyasic").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        miners = await asyncio.gather(*(pyasic.get_miner(o["address"]) for o in opts))
    if any(m is None for m in miners):
        return None
    # Warm-up; a family pyasic cannot read shows as errors in the figures, not a crash.
    await asyncio.gather(*(m.get_data() for m in miners), return_exceptions=True)
    return await run_rounds([m.get_data for m in miners], seconds)


async def bench_family(family: str, n: int, seconds: float, block: int) -> None:
    """Print one line of figures for ``family``."""
    proc, opts = start_sims(family, n, f"127.88.{block}.1")
    try:
        ours = await bench_ours(opts, seconds)
        theirs = await bench_pyasic(opts, seconds) if family in PYASIC_FAMILIES else None
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
    line = (f"{family:<14} {ours.per_core:>10,.0f} {ours.polls / ours.wall:>10,.0f} "
            f"{ours.errors:>6}")  # fmt: skip
    if theirs is not None and theirs.polls == 0:
        line += f" {'get_data fails':>12} {theirs.errors:>6} {'':>9}"
    elif theirs is not None:
        ratio = ours.per_core / theirs.per_core if theirs.per_core else float("inf")
        line += f" {theirs.per_core:>12,.0f} {theirs.errors:>6} {ratio:>8.1f}x"
    else:
        line += f" {'—':>12} {'':>6} {'':>9}"
    print(line, flush=True)


async def main() -> None:
    """Parse arguments, run each family in turn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=DEFAULT_FAMILIES)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    print(f"{args.devices} simulated devices per family, {args.seconds:g} s per client")
    print(f"{'family':<14} {'ours/core':>10} {'ours/s':>10} {'errors':>6} "
          f"{'pyasic/core':>12} {'errors':>6} {'ratio':>9}")  # fmt: skip
    for block, family in enumerate(f for f in args.families.split(",") if f):
        await bench_family(family, args.devices, args.seconds, block)


if __name__ == "__main__":
    if "--loop" in sys.argv and "asyncio" in sys.argv:
        asyncio.run(main())
    else:
        import uvloop

        uvloop.run(main())
