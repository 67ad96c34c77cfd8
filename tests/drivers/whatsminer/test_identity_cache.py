"""Firmware, MAC, hostname and LED are read every 10 minutes and right after a write;
sleep state and error codes every poll (127.92.3.x)."""

from __future__ import annotations

import asyncio
from typing import Any

from hashfleet.drivers.whatsminer import driver as wm_driver
from hashfleet.drivers.whatsminer.driver import WhatsminerDriver
from tests.drivers.whatsminer.test_driver_sim import collect, driver, miners

WAIT = 10.0


def spy(drv: WhatsminerDriver) -> list[str]:
    asked: list[str] = []
    real = drv.c2.request

    async def request(command: str, *args: Any, **kw: Any) -> Any:
        asked.append(command)
        return await real(command, *args, **kw)

    drv.c2.request = request  # type: ignore[method-assign]
    return asked


async def test_identity_is_cached_and_refreshed_after_a_write() -> None:
    async with miners(16, ["M30S+"]) as (sim,):
        drv = driver(sim)
        asked = spy(drv)
        try:
            first = await collect(drv)
            asked.clear()
            second = await collect(drv)
            assert sorted(asked) == sorted([wm_driver.JOINED, *wm_driver.EVERY_POLL])
            assert (second.config.mac, second.config.firmware) == (
                first.config.mac, first.config.firmware
            )  # fmt: skip
            await asyncio.wait_for(drv.set_led(True), WAIT)
            asked.clear()
            lit = await collect(drv)
            assert set(wm_driver.IDENTITY) <= set(asked) and lit.stats.led is True
            await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
            assert (await collect(drv)).stats.status == "sleeping"  # status: every poll
        finally:
            await drv.close()
    assert first.config.mac and first.config.firmware
