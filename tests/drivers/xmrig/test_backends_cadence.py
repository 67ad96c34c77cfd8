"""/2/backends only when it adds something: GPU backends, once a minute, after a restart
(127.77.2.200+)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.xmrig import driver as xmrig_driver
from hashfleet.drivers.xmrig.driver import XmrigDriver
from hashfleet.drivers.xmrig.parse import cpu_backends_from_summary, has_gpu_backend, parse
from hashfleet.sim.xmrig import XmrigServer, XmrigSim

WAIT = 10.0
ADDRESS = "127.77.2.201"


@pytest.fixture
async def rig() -> AsyncIterator[XmrigSim]:
    server = XmrigServer()
    sim = XmrigSim(ADDRESS, port=18090, seed=3)
    await server.add(sim)
    try:
        yield sim
    finally:
        await server.close()


def spy(drv: XmrigDriver) -> list[str]:
    paths: list[str] = []
    real = drv.client.request

    async def request(method: str, path: str, *args: Any, **kw: Any) -> Any:
        paths.append(path)
        return await real(method, path, *args, **kw)

    drv.client.request = request  # type: ignore[method-assign]
    return paths


async def test_cpu_only_rig_reads_backends_once_then_from_the_summary(rig: XmrigSim) -> None:
    drv = XmrigDriver(DriverOptions(family="xmrig", address=ADDRESS, port=18090))
    paths = spy(drv)
    try:
        first = await asyncio.wait_for(drv.collect(), WAIT)
        second = await asyncio.wait_for(drv.collect(), WAIT)
        assert paths == ["/2/summary", "/2/backends", "/2/summary"]
        rig.set_fault("dead_board")  # still seen without /2/backends
        stalled = await asyncio.wait_for(drv.collect(), WAIT)
        rig.set_fault("none")
        rig.restart()
        await asyncio.wait_for(drv.collect(), WAIT)
        assert paths[-2:] == ["/2/summary", "/2/backends"]  # uptime went back: ask again
        drv._backends_at -= xmrig_driver.BACKENDS_RECHECK_S  # a minute later
        await asyncio.wait_for(drv.collect(), WAIT)
        assert paths[-1] == "/2/backends"
    finally:
        await drv.close()
    strip = [(b.index, b.ok) for b in first.stats.hashboards]
    assert strip == [(b.index, b.ok) for b in second.stats.hashboards] == [(0, True)]
    assert stalled.stats.hashboards[0].ok is False
    assert "ERR_HASHBOARD_DEAD" in stalled.stats.errors


def test_summary_board_equals_the_backends_board(rig: XmrigSim) -> None:
    summary, backends = rig.summary(), rig.backends()
    from_backends = parse(summary, backends).stats.hashboards
    from_summary = parse(summary, cpu_backends_from_summary(summary)).stats.hashboards
    # Two calls, two instants of the simulated clock: equal up to the drift between them.
    assert [b.ok for b in from_backends] == [b.ok for b in from_summary] == [True]
    assert from_summary[0].hashrate == pytest.approx(from_backends[0].hashrate, rel=1e-3)
    assert not has_gpu_backend(backends)
    gpu = [*backends, {"type": "cuda", "enabled": True, "threads": []}]
    assert has_gpu_backend(gpu) and not has_gpu_backend(None)
    assert cpu_backends_from_summary({"hashrate": {"total": [1.0]}}) is None


async def test_gpu_rig_reads_backends_every_poll(
    rig: XmrigSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rig.backends

    def with_gpu() -> list[dict[str, Any]]:
        out = real()
        out[2] = {**out[2], "enabled": True, "threads": [{"hashrate": [1.0, 1.0, 1.0],
                  "health": {"temperature": 60, "power": 200, "fan_speed": [1500]}}]}  # fmt: skip
        return out

    monkeypatch.setattr(rig, "backends", with_gpu)
    drv = XmrigDriver(DriverOptions(family="xmrig", address=ADDRESS, port=18090))
    paths = spy(drv)
    try:
        for _ in range(3):
            snap = await asyncio.wait_for(drv.collect(), WAIT)
    finally:
        await drv.close()
    assert paths.count("/2/backends") == 3
    assert snap.stats.power_w == 200.0 and len(snap.stats.hashboards) == 2
