"""The VNish driver against the simulator (cgminer on 4028, web API on 80): polls, faults
and every control. Addresses: 127.94.3.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hashfleet.core.errors import (
    BadRequest,
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.vnish.driver import VnishDriver
from hashfleet.sim.vnish import AutotunePreset, VnishHost, VnishSim

WAIT = 10.0
_n = iter(range(1, 250))


@pytest.fixture
async def sim() -> AsyncIterator[VnishSim]:
    device = VnishSim(f"127.94.3.{next(_n)}", model="Antminer S19k Pro", seed=5, password="s3c")
    host = VnishHost()
    await asyncio.wait_for(host.add(device), WAIT)
    yield device
    await asyncio.wait_for(host.close(), WAIT)


@pytest.fixture
async def drv(sim: VnishSim) -> AsyncIterator[VnishDriver]:
    d = make(sim)
    yield d
    await d.close()


def make(sim: VnishSim, timeout: float = 5.0, password: str = "s3c") -> VnishDriver:
    opts = DriverOptions(family="vnish", address=sim.address, timeout=timeout, password=password)
    return VnishDriver(opts)


async def test_poll(sim: VnishSim, drv: VnishDriver) -> None:
    snap = await asyncio.wait_for(drv.collect(), WAIT)
    s, c = snap.stats, snap.config
    assert (c.make, c.model, c.firmware) == ("Antminer", "S19k Pro", "Vnish 1.2.6")
    assert c.mac == sim.mac and c.hostname == sim.hostname
    assert s.status == "online" and s.errors == [] and s.hashrate and s.hashrate > 110e12
    assert len(s.hashboards) == 3 and len(s.fans) == 4 and s.power_w and len(s.pools) == 3


@pytest.mark.parametrize(
    ("fault", "error"),
    [("refuse", DeviceOffline), ("hang", DeviceTimeout), ("garbage", DeviceReplyInvalid)],
)
async def test_transport_faults(sim: VnishSim, fault: str, error: type[Exception]) -> None:
    sim.set_fault(fault)
    d = make(sim, timeout=1.0)
    try:
        with pytest.raises(error):
            await asyncio.wait_for(d.collect(), WAIT)
    finally:
        await d.close()


@pytest.mark.parametrize(
    ("fault", "code"),
    [("overheat", "ERR_OVERHEAT"), ("dead_board", "ERR_HASHBOARD_DEAD"),
     ("pool_down", "ERR_POOL_DOWN")],
)  # fmt: skip
async def test_content_faults(sim: VnishSim, drv: VnishDriver, fault: str, code: str) -> None:
    sim.set_fault(fault)
    snap = await asyncio.wait_for(drv.collect(), WAIT)
    assert code in snap.stats.errors and snap.stats.status == "online"


async def test_wrong_password_polls_cgminer_only_and_controls_fail(sim: VnishSim) -> None:
    d = make(sim, password="nope")
    try:
        snap = await asyncio.wait_for(d.collect(), WAIT)  # the web UI refuses; 4028 answers
        assert snap.stats.hashrate and snap.config.mac is None and d.web_error  # mac: web only
        with pytest.raises(DeviceCommandFailed):
            await asyncio.wait_for(d.reboot(), WAIT)
        d.password = "s3c"
        again = await asyncio.wait_for(d.collect(), WAIT)
        assert again.config.mac == sim.mac and d.web_error is None
    finally:
        await d.close()
    with pytest.raises(BadRequest):
        VnishDriver(DriverOptions(family="vnish", address=sim.address, params={"web_port": "x"}))


async def test_reboot_restarts_uptime_and_token(sim: VnishSim, drv: VnishDriver) -> None:
    before = (await asyncio.wait_for(drv.collect(), WAIT)).stats.uptime_s
    await asyncio.wait_for(drv.reboot(), WAIT)
    assert sim.reboots == 1 and not sim.tokens
    after = (await asyncio.wait_for(drv.collect(), WAIT)).stats.uptime_s
    assert before and after is not None and after < before


async def test_expired_token_unlocks_again(sim: VnishSim, drv: VnishDriver) -> None:
    await asyncio.wait_for(drv.collect(), WAIT)
    sim.tokens.clear()
    assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.power_w


async def test_set_pools(sim: VnishSim, drv: VnishDriver) -> None:
    targets = [PoolTarget(url="stratum+tcp://a.example:3333", user="w,1"),
               PoolTarget(url="stratum+tcp://b.example:3333", user="w2")]  # fmt: skip
    await asyncio.wait_for(drv.set_pools(targets), WAIT)
    pools = (await asyncio.wait_for(drv.collect(), WAIT)).stats.pools
    assert [(p.url, p.user) for p in pools] == [(t.url, t.user) for t in targets]
    assert pools[0].active
    await asyncio.wait_for(drv.reboot(), WAIT)  # saved: a reboot keeps them
    assert sim.info()["pools"] == [t.url for t in targets]


async def test_power_mode_and_led(sim: VnishSim, drv: VnishDriver) -> None:
    await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
    snap = await asyncio.wait_for(drv.collect(), WAIT)
    assert sim.paused and snap.stats.status == "sleeping" and not snap.stats.hashrate
    await asyncio.wait_for(drv.set_power_mode("normal"), WAIT)
    assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.status == "online"
    await asyncio.wait_for(drv.set_led(True), WAIT)
    assert sim.blink and (await asyncio.wait_for(drv.collect(), WAIT)).stats.led is True
    await asyncio.wait_for(drv.set_led(True), WAIT)  # already on: stays on
    assert sim.blink
    await asyncio.wait_for(drv.set_led(False), WAIT)
    assert not sim.blink
    with pytest.raises(ValueError):
        await drv.set_power_mode("low")


# Presets of the simulated S19k Pro (nameplate 2760 W, 120 TH): 2070 and 2350 tuned,
# 2570 untuned, 2760 tuned (running), 3040 untuned.


async def test_power_limit_between_presets(sim: VnishSim, drv: VnishDriver) -> None:
    first = await asyncio.wait_for(drv.collect(), WAIT)
    assert first.stats.power_limit_w == 2760 and sim.preset_watts == "2760"
    assert "set_power_limit" in VnishDriver.capabilities
    await asyncio.wait_for(drv.set_power_limit(2700), WAIT)  # 2570 is untuned: skipped
    assert sim.preset_watts == "2350"
    snap = await asyncio.wait_for(drv.collect(), WAIT)
    s = snap.stats
    assert s.power_limit_w == 2350
    assert s.power_w and 2250 < s.power_w < 2450  # the preset's draw, not the nameplate's
    assert s.hashrate and first.stats.hashrate and s.hashrate < first.stats.hashrate * 0.95
    assert s.hashrate_nominal and abs(s.hashrate_nominal - 108e12) < 2e12


async def test_power_limit_exact_preset(sim: VnishSim, drv: VnishDriver) -> None:
    await asyncio.wait_for(drv.set_power_limit(2070), WAIT)
    assert sim.preset_watts == "2070"
    s = (await asyncio.wait_for(drv.collect(), WAIT)).stats
    assert s.power_limit_w == 2070 and s.power_w and s.power_w < 2150
    await asyncio.wait_for(drv.set_power_limit(5000.5), WAIT)  # above all: the highest tuned
    assert sim.preset_watts == "2760"


async def test_power_limit_too_low_or_bad_writes_nothing(sim: VnishSim, drv: VnishDriver) -> None:
    with pytest.raises(ValueError, match="2070 W"):
        await asyncio.wait_for(drv.set_power_limit(2000), WAIT)
    for bad in (0, -5, float("nan"), float("inf"), True, "2500"):
        with pytest.raises(ValueError):
            await asyncio.wait_for(drv.set_power_limit(bad), WAIT)  # type: ignore[arg-type]
    assert sim.preset_watts == "2760" and sim.reboots == 0


async def test_power_limit_skips_untuned_presets(sim: VnishSim, drv: VnishDriver) -> None:
    for p in sim.autotune:
        p.tuned = p.name in ("2570", "3040")  # only the two untuned ones become tuned
    await asyncio.wait_for(drv.set_power_limit(3000), WAIT)
    assert sim.preset_watts == "2570"
    with pytest.raises(ValueError, match="2570 W"):
        await asyncio.wait_for(drv.set_power_limit(2500), WAIT)
    for p in sim.autotune:
        p.tuned = False
    with pytest.raises(DeviceCommandFailed, match="no tuned"):
        await asyncio.wait_for(drv.set_power_limit(3000), WAIT)
    assert sim.preset_watts == "2570"


async def test_power_limit_web_down_fails_polls_go_on(sim: VnishSim, drv: VnishDriver) -> None:
    await asyncio.wait_for(drv.collect(), WAIT)
    sim.web_down = True
    with pytest.raises(DeviceCommandFailed):
        await asyncio.wait_for(drv.set_power_limit(2400), WAIT)
    snap = await asyncio.wait_for(drv.collect(), WAIT)  # cgminer on 4028 still answers
    assert snap.stats.hashrate and drv.web_error and sim.preset_watts == "2760"
    sim.web_down = False
    await asyncio.wait_for(drv.set_power_limit(2400), WAIT)
    assert sim.preset_watts == "2350" and drv.web_error is not None  # cleared by a poll
    assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.power_limit_w == 2350
    assert drv.web_error is None


async def test_power_limit_not_kept_fails(sim: VnishSim, drv: VnishDriver) -> None:
    sim.autotune.append(AutotunePreset("ghost", 2500, 100.0, True))  # named, not numbered
    sim.apply_preset = lambda name: True  # type: ignore[method-assign]  # answers, keeps none
    with pytest.raises(DeviceCommandFailed, match="kept preset '2760'"):
        await asyncio.wait_for(drv.set_power_limit(2500), WAIT)
    assert sim.preset_watts == "2760"
    del sim.apply_preset
    await asyncio.wait_for(drv.set_power_limit(2500), WAIT)  # its watts come from "pretty"
    assert sim.preset_watts == "ghost"
    assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.power_limit_w == 2500
