"""PoolAccountDriver against simulated pool APIs (OCEAN, Braiins) on 127.98.1.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hashfleet.core.errors import (
    BadRequest,
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.pool_account.driver import PoolAccountDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.pool_account import PoolAccountSim

WAIT = 10.0
PORT = 18081


@asynccontextmanager
async def pool(host: int, api: str) -> AsyncIterator[PoolAccountSim]:
    sim = PoolAccountSim(f"127.98.1.{host}", port=PORT, seed=host, api=api)
    server = HttpSimServer()
    await asyncio.wait_for(server.add(sim), WAIT)
    try:
        yield sim
    finally:
        await asyncio.wait_for(server.close(), WAIT)


def driver(sim: PoolAccountSim, timeout: float = 2.0, **params: Any) -> PoolAccountDriver:
    opts = sim.thing_opts()
    merged = {**dict(opts["params"]), **params}  # type: ignore[call-overload]
    return PoolAccountDriver(DriverOptions(family="pool_account", address=sim.address,
                                           port=PORT, timeout=timeout, params=merged))  # fmt: skip


async def collect(drv: PoolAccountDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


@pytest.mark.parametrize(("host", "api"), [(1, "ocean"), (2, "braiins")])
async def test_normal_poll(host: int, api: str) -> None:
    async with pool(host, api) as sim:
        drv = driver(sim)
        try:
            snap = await collect(drv)
            sim.workers_down = {0, 1}
            later = (await collect(drv)).stats.pool_account
        finally:
            await drv.close()
    s = snap.stats
    assert s.hashrate is None and s.status == "online"  # never double-counted with miners
    pa = s.pool_account
    assert pa is not None and pa.pool == api and pa.account == sim.account
    expected = sim.preset.hashrate
    assert pa.hashrate is not None and 0.8 * expected < pa.hashrate < 1.2 * expected
    assert pa.hashrate_24h is not None and 0.9 * expected < pa.hashrate_24h < 1.1 * expected
    assert (pa.workers_online, pa.workers_offline) == (sim.preset.workers, 0)
    assert pa.balance is not None and pa.balance >= 0 and pa.earnings_total
    assert pa.earnings_24h and pa.currency == "BTC"
    assert later is not None and later.workers_offline == 2
    assert later.workers_online == sim.preset.workers - 2


async def test_braiins_wrong_key_is_refused() -> None:
    async with pool(3, "braiins") as sim:
        drv = driver(sim, api_key="nope")
        try:
            with pytest.raises(DeviceCommandFailed) as info:
                await collect(drv)
        finally:
            await drv.close()
    assert info.value.details["http_status"] == 401


async def test_pool_down_is_maintenance() -> None:
    async with pool(4, "ocean") as sim:
        drv = driver(sim)
        try:
            sim.set_fault("pool_down")
            with pytest.raises(DeviceCommandFailed) as info:
                await collect(drv)
            assert info.value.details["http_status"] == 503
            sim.set_fault("overheat")  # means nothing to a pool
            assert (await collect(drv)).stats.errors == []
        finally:
            await drv.close()


async def test_transport_faults() -> None:
    async with pool(5, "braiins") as sim:
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
            assert (await collect(drv)).stats.pool_account is not None
        finally:
            await drv.close()


@pytest.mark.parametrize(
    "params",
    [{"api": "f2pool", "account": "a"}, {"api": "ocean"}, {"api": "braiins", "account": "a"},
     {"api": "ocean", "account": "a", "api_key": 5}],
)  # fmt: skip
def test_bad_params(params: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as info:
        PoolAccountDriver(DriverOptions(family="pool_account", address="127.98.1.9",
                                        params=params))  # fmt: skip
    assert info.value.code == "ERR_THING_OPTS_INVALID"
