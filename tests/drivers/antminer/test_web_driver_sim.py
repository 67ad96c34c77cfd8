"""AntminerDriver with the stock web UI against simulated miners (cgminer on 4028 plus the
web UI on port 80): identity, work mode, locate light, reboot, saved pools, and how reads
and controls behave without the web UI (refused port, wrong password, turned off).

Addresses: 127.91.0.x, one per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import DeviceCommandFailed, DeviceOffline
from hashfleet.drivers.antminer.driver import AntminerDriver
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import CgminerClient
from hashfleet.model.snapshot import STATUS_SLEEPING
from hashfleet.sim.antminer import AntminerSim
from hashfleet.sim.antminer_web import AntminerWeb

WAIT = 10.0


@asynccontextmanager
async def miner(
    n: int, *, web: bool = True, password: str = "root", model: str = "Antminer S19j Pro"
) -> AsyncIterator[AntminerSim]:
    """A simulated miner on 127.91.0.n, with the web UI on port 80 unless ``web=False``."""
    sim = AntminerSim(f"127.91.0.{n}", model=model, seed=n)
    host = AntminerWeb(password=password)
    await asyncio.wait_for(sim.start(), WAIT)
    try:
        if web:
            try:
                await asyncio.wait_for(host.add(sim), WAIT)
            except PermissionError:
                pytest.skip("no permission to bind port 80")
        yield sim
    finally:
        await asyncio.wait_for(host.close(), WAIT)
        await asyncio.wait_for(sim.stop(), WAIT)


def driver(sim: AntminerSim, **params: object) -> AntminerDriver:
    return AntminerDriver(DriverOptions(family="antminer", address=sim.address, timeout=2.0,
                                        params=dict(params)))  # fmt: skip


async def test_poll_adds_identity_mode_and_light() -> None:
    async with miner(1) as sim:
        drv = driver(sim)
        try:
            snap = await asyncio.wait_for(drv.collect(), WAIT)
        finally:
            await drv.close()
    c, s = snap.config, snap.stats
    assert (c.mac, c.hostname, c.serial) == (sim.mac, sim.hostname, sim.serial)
    assert s.status == "online" and s.work_mode == "normal" and s.led is False
    assert s.hashrate and s.hashrate > 0 and drv.web_error is None


async def test_sleep_and_wake() -> None:
    async with miner(2) as sim:
        drv = driver(sim)
        try:
            await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
            assert sim.sleeping and sim.info()["work_mode"] == "sleep"
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.status == STATUS_SLEEPING and snap.stats.work_mode == "sleep"
            assert snap.stats.hashrate == 0
            assert all(b.ok for b in snap.stats.hashboards) and not snap.stats.errors
            assert snap.stats.power_w is not None and snap.stats.power_w < 100
            sim.restart()  # the saved mode survives a reboot
            assert sim.sleeping
            await asyncio.wait_for(drv.set_power_mode("normal"), WAIT)
            assert not sim.sleeping
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.status == "online" and snap.stats.hashrate
            with pytest.raises(ValueError):
                await drv.set_power_mode("turbo")
        finally:
            await drv.close()


async def test_led_on_and_off() -> None:
    async with miner(3) as sim:
        drv = driver(sim)
        try:
            await asyncio.wait_for(drv.set_led(True), WAIT)
            assert sim.blink is True
            assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.led is True
            await asyncio.wait_for(drv.set_led(False), WAIT)
            assert sim.blink is False
            assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.led is False
        finally:
            await drv.close()


async def test_reboot_through_the_web_ui() -> None:
    async with miner(4) as sim:
        drv = driver(sim)
        try:
            sim.boot_at -= 500
            await asyncio.wait_for(drv.reboot(), WAIT)
            assert sim.reboots == 1
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.uptime_s is not None and snap.stats.uptime_s < 100
        finally:
            await drv.close()


async def test_set_pools_saves_them_across_reboots() -> None:
    wanted = [
        PoolTarget(url="stratum+tcp://pool.a:3333", user="acct.w1", password="x"),
        PoolTarget(url="stratum+tcp://pool.b:3333", user="acct.w1", password="y"),
    ]
    async with miner(5) as sim:
        drv = driver(sim)
        try:
            await asyncio.wait_for(drv.set_pools(wanted), WAIT)
            assert sim.saved_pools == [(p.url, p.user, p.password) for p in wanted]
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert [p.url for p in snap.stats.pools] == [p.url for p in wanted]
            sim.restart()
            assert [p.url for p in sim.pools] == [p.url for p in wanted]
            with pytest.raises(ValueError):
                await drv.set_pools(wanted * 2)  # four: more than the UI's three slots
        finally:
            await drv.close()


async def test_reads_without_the_web_ui_and_controls_say_why() -> None:
    async with miner(6, web=False) as sim:
        drv = driver(sim)
        try:
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.hashrate and snap.config.mac is None
            assert snap.stats.work_mode is None and drv.web_error is not None
            with pytest.raises(DeviceCommandFailed, match="unreachable"):
                await asyncio.wait_for(drv.set_led(True), WAIT)
            # reboot and pools fall back to cgminer
            await asyncio.wait_for(drv.reboot(), WAIT)
            assert sim.reboots == 1
            await asyncio.wait_for(
                drv.set_pools([PoolTarget(url="stratum+tcp://c:1", user="u", password="x")]), WAIT
            )
            assert [p.url for p in sim.pools] == ["stratum+tcp://c:1"]
        finally:
            await drv.close()


async def test_wrong_password() -> None:
    async with miner(7, password="s3cret") as sim:
        drv = driver(sim)
        try:
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.hashrate and snap.config.mac is None
            assert drv.web_error == "refused the login"
            with pytest.raises(DeviceCommandFailed, match="refused the login"):
                await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
            assert not sim.sleeping
            # No silent fallback to cgminer: the pools would not be saved.
            with pytest.raises(DeviceCommandFailed, match="refused the login"):
                await asyncio.wait_for(
                    drv.set_pools([PoolTarget(url="stratum+tcp://d:1", user="u")]), WAIT
                )
            with pytest.raises(DeviceCommandFailed, match="refused the login"):
                await asyncio.wait_for(drv.reboot(), WAIT)
            assert sim.reboots == 0 and sim.pools[0].url != "stratum+tcp://d:1"
        finally:
            await drv.close()


async def test_web_turned_off() -> None:
    async with miner(8) as sim:
        drv = driver(sim, web=False)
        try:
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.config.mac is None and snap.stats.led is None
            with pytest.raises(DeviceCommandFailed, match="turned off"):
                await drv.set_led(True)
        finally:
            await drv.close()


async def test_someone_else_puts_it_to_sleep() -> None:
    # Zero hashrate makes the driver re-read the work mode before the minute is up.
    async with miner(9) as sim:
        drv = driver(sim)
        try:
            await asyncio.wait_for(drv.collect(), WAIT)
            sim.save_conf(None, 1)
            drv._state_at -= 60  # the re-check is due (10 s after the last web read)
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.status == STATUS_SLEEPING
        finally:
            await drv.close()


async def test_cgminer_api_follows_the_saved_configuration() -> None:
    async with miner(10) as sim:
        drv = driver(sim)
        api = CgminerClient(sim.address, 4028, 2.0)
        try:
            await asyncio.wait_for(
                drv.set_pools([PoolTarget(url="stratum+tcp://e:1", user="w", password="x")]),
                WAIT,
            )
            await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
            await asyncio.wait_for(drv.set_led(True), WAIT)
            summary = await asyncio.wait_for(api.request("summary"), WAIT)
            assert summary["SUMMARY"][0]["GHS 5s"] == 0
            stats = await asyncio.wait_for(api.request("stats"), WAIT)
            assert stats["STATS"][1]["miner-mode"] == 1
            pools = await asyncio.wait_for(api.request("pools"), WAIT)
            assert [p["URL"] for p in pools["POOLS"]] == ["stratum+tcp://e:1"]
            assert sim.info()["blink"] is True and sim.info()["work_mode"] == "sleep"
        finally:
            await drv.close()


async def test_miner_with_its_cgminer_api_off_is_read_through_the_web_ui() -> None:
    async with miner(11) as sim:
        rpc = next(li for li in sim.listeners if li.port == 4028)
        await asyncio.wait_for(rpc.stop(), WAIT)  # api-listen off: only the web UI answers
        drv, off = driver(sim), driver(sim, web=False)
        try:
            snap = await asyncio.wait_for(drv.collect(), WAIT)
            assert snap.stats.status == "online" and snap.stats.hashrate
            assert len(snap.stats.hashboards) == 3 and snap.config.mac == sim.mac
            await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
            assert (await asyncio.wait_for(drv.collect(), WAIT)).stats.status == STATUS_SLEEPING
            with pytest.raises(DeviceOffline):
                await asyncio.wait_for(off.collect(), WAIT)
        finally:
            await drv.close()
            await off.close()
