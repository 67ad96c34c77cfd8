"""XmrigDriver.get_config/set_config against simulated XMRigs on loopback (127.96.4.x):
``GET``/``PUT /1/config`` with the access token, refused while the API is restricted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hashfleet.core.errors import DeviceCommandFailed
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.xmrig.driver import XmrigDriver
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.xmrig import XmrigSim

WAIT = 10.0


@asynccontextmanager
async def rig(sim: XmrigSim) -> AsyncIterator[XmrigDriver]:
    server = HttpSimServer()
    await asyncio.wait_for(server.add(sim), WAIT)
    drv = XmrigDriver(parse_options({**sim.thing_opts(), "timeout": 3.0}))
    try:
        yield drv
    finally:
        await drv.close()
        await asyncio.wait_for(server.close(), WAIT)


async def test_get_change_put_config_moves_pool_and_algorithm() -> None:
    sim = XmrigSim("127.96.4.1", seed=1, token="s3cret", restricted=False)
    async with rig(sim) as drv:
        assert "set_config" in drv.capabilities
        doc: dict[str, Any] = await asyncio.wait_for(drv.get_config(), WAIT)
        assert doc["pools"][0]["url"] == "xmr.pool.example.net:3333"
        doc["pools"] = [{"url": "rx.unmineable.example.com:3333", "user": "XMR:4Ab.rig",
                         "pass": "x", "algo": "rx/wow", "enabled": True}]  # fmt: skip
        doc["donate-level"] = 0
        await asyncio.wait_for(drv.set_config(doc), WAIT)
        snap = await asyncio.wait_for(drv.collect(), WAIT)
        again = await asyncio.wait_for(drv.get_config(), WAIT)
    assert sim.config_changes == 1 and sim.pool == "rx.unmineable.example.com:3333"
    assert snap.stats.pools[0].url == "rx.unmineable.example.com:3333"
    assert snap.stats.algorithm == "rx/wow"
    assert again["donate-level"] == 0 and again["pools"][0]["algo"] == "rx/wow"
    assert again["http"]["access-token"] == "s3cret"  # the API section stays as started


async def test_restricted_api_refuses_config() -> None:
    sim = XmrigSim("127.96.4.2", seed=2, token="s3cret", restricted=True)
    async with rig(sim) as drv:
        with pytest.raises(DeviceCommandFailed) as got:
            await asyncio.wait_for(drv.get_config(), WAIT)
        assert got.value.details["http_status"] == 403
        with pytest.raises(DeviceCommandFailed) as put:
            await asyncio.wait_for(drv.set_config({"pools": [{"url": "a:1"}]}), WAIT)
        assert put.value.details["http_status"] == 403
    assert sim.config_changes == 0


async def test_bad_configs_are_refused() -> None:
    sim = XmrigSim("127.96.4.3", seed=3, token="t", restricted=False)
    async with rig(sim) as drv:
        with pytest.raises(DeviceCommandFailed):
            await drv.set_config({})  # refused before sending
        with pytest.raises(DeviceCommandFailed) as bad:
            await asyncio.wait_for(drv.set_config({"pools": []}), WAIT)
        assert bad.value.details["http_status"] == 400
        wrong = XmrigDriver(parse_options({**sim.thing_opts(), "password": "nope"}))
        try:
            with pytest.raises(DeviceCommandFailed) as denied:
                await asyncio.wait_for(wrong.get_config(), WAIT)
            assert denied.value.details["http_status"] == 403
        finally:
            await wrong.close()
    assert sim.config_changes == 0
