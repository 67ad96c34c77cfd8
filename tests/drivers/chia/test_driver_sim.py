"""ChiaDriver against a simulated farm over mutual TLS on 127.98.2.x."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from hashfleet.core.errors import (
    BadRequest,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.chia.driver import ChiaDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.chia import K32_BYTES, ChiaServer, ChiaSim, tls_files

WAIT = 10.0
PORTS = (18555, 18559, 18560)


@asynccontextmanager
async def farm(host: int, preset: str = "small") -> AsyncIterator[ChiaSim]:
    sim = ChiaSim(f"127.98.2.{host}", seed=host, preset=preset, ports=PORTS)
    server = ChiaServer()
    await asyncio.wait_for(server.add(sim), WAIT)
    try:
        yield sim
    finally:
        await asyncio.wait_for(server.close(), WAIT)


def driver(sim: ChiaSim, timeout: float = 2.0, **params: Any) -> ChiaDriver:
    base: dict[str, Any] = dict(sim.thing_opts()["params"])  # type: ignore[call-overload]
    return ChiaDriver(DriverOptions(family="chia", address=sim.address, timeout=timeout,
                                    params={**base, **params}))  # fmt: skip


async def collect(drv: ChiaDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_poll_all_roles() -> None:
    async with farm(1, "large") as sim:
        drv = driver(sim)
        try:
            snap = await collect(drv)
        finally:
            await drv.close()
    c = snap.stats.chia
    assert c is not None and snap.stats.status == "online" and snap.stats.errors == []
    assert (c.synced, c.syncing) == (True, False)
    assert c.height is not None and c.height > 5_000_000
    assert c.netspace_bytes is not None and c.netspace_bytes > 10**19
    assert c.harvesters == 3 and c.plots == 360 and c.total_space_bytes == 360 * K32_BYTES
    assert c.signage_points == 64 and c.missed_challenges == 0 and c.proofs_found is not None
    assert c.farming_status == "farming" and snap.stats.hashrate is None


async def test_single_role_harvester() -> None:
    async with farm(2) as sim:
        drv = driver(sim, role="harvester")
        try:
            c = (await collect(drv)).stats.chia
        finally:
            await drv.close()
    assert c is not None and c.plots == 40 and c.synced is None and c.harvesters is None


async def test_client_without_certificate_is_refused() -> None:
    async with farm(3) as sim:
        ctx = ssl.create_default_context(cafile=str(tls_files().ca_crt))
        ctx.check_hostname = False
        async with aiohttp.ClientSession() as session:
            with pytest.raises((aiohttp.ClientError, ssl.SSLError, OSError)):
                async with session.post(f"https://{sim.address}:{PORTS[1]}/healthz",
                                        json={}, ssl=ctx) as resp:  # fmt: skip
                    await resp.read()


async def test_content_faults() -> None:
    async with farm(4) as sim:
        drv = driver(sim)
        try:
            sim.set_fault("pool_down")
            sim.faults.since -= 300  # lost sync five minutes ago
            down = (await collect(drv)).stats
            sim.set_fault("dead_board")
            dead = (await collect(drv)).stats
            sim.set_fault("overheat")
            hot = (await collect(drv)).stats
        finally:
            await drv.close()
    assert down.chia is not None and down.chia.synced is False
    assert down.errors == ["ERR_CHIA_NOT_SYNCED"] and down.chia.farming_status == "syncing"
    assert down.chia.missed_challenges and down.chia.missed_challenges > 0
    assert dead.chia is not None and dead.chia.plots == 30 and dead.chia.plots_missing == 10
    assert dead.errors == ["ERR_CHIA_PLOTS_MISSING"]
    assert hot.errors == []


async def test_transport_faults() -> None:
    async with farm(5) as sim:
        drv = driver(sim, timeout=1.0)
        try:
            sim.set_fault("refuse")
            with pytest.raises(DeviceOffline):
                await collect(drv)
            sim.set_fault("hang")
            with pytest.raises(DeviceTimeout):
                await collect(drv)
            sim.set_fault("garbage")
            with pytest.raises(DeviceReplyInvalid):
                await collect(drv)
            sim.set_fault("none")
            assert (await collect(drv)).stats.chia is not None
        finally:
            await drv.close()


@pytest.mark.parametrize("drop", ["cert", "key", "ca"])
def test_missing_tls_params(drop: str) -> None:
    files = tls_files()
    params = {"cert": str(files.client_crt), "key": str(files.client_key),
              "ca": str(files.ca_crt)}  # fmt: skip
    del params[drop]
    with pytest.raises(BadRequest) as info:
        ChiaDriver(DriverOptions(family="chia", address="127.98.2.9", params=params))
    assert info.value.code == "ERR_THING_OPTS_INVALID"


def test_bad_role() -> None:
    files = tls_files()
    params = {"cert": str(files.client_crt), "key": str(files.client_key),
              "ca": str(files.ca_crt), "role": "timelord"}  # fmt: skip
    with pytest.raises(BadRequest):
        ChiaDriver(DriverOptions(family="chia", address="127.98.2.9", params=params))


async def test_legacy_farmer_falls_back_to_get_harvesters() -> None:
    async with farm(6, "legacy") as sim:
        drv = driver(sim, role="farmer")
        try:
            first = (await collect(drv)).stats.chia
            second = (await collect(drv)).stats.chia
        finally:
            await drv.close()
    assert first is not None and first.harvesters == 2 and first.plots == 40
    assert first.total_space_bytes == 40 * K32_BYTES
    assert second is not None and second.plots == 40  # straight to get_harvesters now
    assert drv._summary is False
