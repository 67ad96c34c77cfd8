"""The Whatsminer driver (MicroBT btminer).

API 2.x (default, TCP 4028): one poll sends ``summary+edevs+pools+devdetails`` joined, and
``get_version``, ``get_miner_info``, ``get_error_code`` and ``status`` (which btminer cannot
join) each on their own connection, all at once. Writes are encrypted with a token from
``get_token`` and the admin password (``opts.password``, ``admin`` by default).

API 3 (``params={"api": "v3"}``, TCP 4433, firmware from late 2024): ``get.device.info`` and
``get.miner.status`` with ``summary,edevs,pools``; writes are signed for the ``super``
account (``opts.password``, ``super`` by default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from hashfleet.core.errors import BadRequest, DeviceReplyInvalid
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import check_status
from hashfleet.drivers.whatsminer.client import (
    BtminerV2Client,
    BtminerV3Client,
    check_bare,
    check_v3,
)
from hashfleet.drivers.whatsminer.parse import parse_v2, parse_v3
from hashfleet.model.snapshot import Snapshot

V2_PORT = 4028
V3_PORT = 4433
JOINED = "summary+edevs+pools+devdetails"
BARE = ("get_version", "get_miner_info", "get_error_code", "status")
# Read every poll: sleeping or not, error codes. The others (firmware, MAC, hostname,
# serial, LED) change only when someone acts on the miner: read every IDENTITY_TTL_S, and at
# once after any write this driver makes.
EVERY_POLL = ("get_error_code", "status")
IDENTITY = ("get_version", "get_miner_info")
IDENTITY_TTL_S = 600.0
POOL_SLOTS = 3
MODES_V2 = {"low": "set_low_power", "normal": "set_normal_power", "high": "set_high_power"}
# set_target_freq / set.miner.target_freq take a percent of the factory chip frequency;
# MicroBT documents -10 to 100.
FREQ_PCT_MIN, FREQ_PCT_MAX = -10, 100


class WhatsminerDriver:
    """Reads a Whatsminer into a :class:`Snapshot`; reboots it, sleeps/wakes it, sets its
    power mode, power limit, target frequency, pools and LED."""

    family: ClassVar[str] = "whatsminer"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "set_pools", "set_power_mode", "set_power_limit", "set_frequency", "set_led"}
    )

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address`` through API 2.x, or API 3 with ``api: v3``."""
        api = opts.params.get("api", "v2")
        if api not in ("v2", "v3"):
            raise BadRequest(f"params.api must be 'v2' or 'v3', not {api!r}",
                             code="ERR_THING_OPTS_INVALID")  # fmt: skip
        self.opts = opts
        self.v3 = api == "v3"
        if self.v3:
            self.c3 = BtminerV3Client(opts.address, opts.port or V3_PORT, opts.timeout,
                                      opts.password or "super")  # fmt: skip
        else:
            self.c2 = BtminerV2Client(opts.address, opts.port or V2_PORT, opts.timeout,
                                      opts.password or "admin")  # fmt: skip
        self._identity: dict[str, dict[str, Any] | None] = {}
        self._identity_at = float("-inf")
        self._freq_mhz: float | None = None  # chip frequency the last poll showed
        self._freq_pct = 0  # the target-frequency percent this driver last set

    async def collect(self) -> Snapshot:
        """Poll once (five connections on API 2.x, two on API 3, all concurrent)."""
        snap = await self._collect()
        clocks = [b.clock_core_mhz for b in snap.stats.hashboards if b.clock_core_mhz]
        if clocks:
            self._freq_mhz = max(clocks)
        return snap

    async def _collect(self) -> Snapshot:
        if self.v3:
            info, status = await asyncio.gather(
                self.c3.request("get.device.info"),
                self.c3.request("get.miner.status", "summary,edevs,pools"),
            )
            return parse_v3(check_v3(info, "get.device.info"),
                            check_v3(status, "get.miner.status"))  # fmt: skip
        refresh = time.monotonic() - self._identity_at >= IDENTITY_TTL_S
        names: tuple[str, ...] = BARE if refresh else EVERY_POLL
        replies = await asyncio.gather(self.c2.request(JOINED),
                                       *(self.c2.request(c) for c in names))  # fmt: skip
        joined = replies[0]
        check_status(joined, JOINED)
        bare: dict[str, dict[str, Any] | None] = dict(self._identity)
        for name, reply in zip(names, replies[1:], strict=True):
            if "STATUS" not in reply:
                raise DeviceReplyInvalid(f"{name}: reply without STATUS")
            bare[name] = check_bare(reply, name)
        snap = parse_v2(joined, bare)
        if refresh:  # parsed fine: keep the identity replies for the next polls
            self._identity = {n: bare[n] for n in IDENTITY}
            self._identity_at = time.monotonic()
        return snap

    async def _write(self, command: str, **params: Any) -> Any:
        self._identity_at = float("-inf")  # the LED, the pools… may have changed
        return await self.c2.write(command, **params)

    async def reboot(self) -> None:
        """Reboot the controller; uptime starts again from 0."""
        if self.v3:
            check_v3(await self.c3.request("set.system.reboot"), "set.system.reboot")
        else:
            await self._write("reboot")

    async def set_power_mode(self, mode: str) -> None:
        """``"sleep"`` stops hashing (``power_off``); ``"low"``/``"normal"``/``"high"`` start
        it (``power_on``) in that power mode."""
        if mode != "sleep" and mode not in MODES_V2:
            raise ValueError(f"a Whatsminer has no power mode {mode!r}; "
                             "it has sleep, low, normal, high")  # fmt: skip
        if self.v3:
            service = "stop" if mode == "sleep" else "start"
            check_v3(await self.c3.request("set.miner.service", service), "set.miner.service")
            if mode != "sleep":
                reply = await self.c3.request("set.miner.power_mode", mode)
                check_v3(reply, "set.miner.power_mode")
            return
        if mode == "sleep":
            await self._write("power_off", respbefore="true")
            return
        await self._write("power_on")
        await self._write(MODES_V2[mode])

    async def set_power_limit(self, watts: float) -> None:
        """Cap the power draw at ``watts``."""
        if not 0 < watts < 100000:
            raise ValueError(f"power limit {watts} W is out of range")
        if self.v3:
            reply = await self.c3.request("set.miner.power_limit", int(watts))
            check_v3(reply, "set.miner.power_limit")
        else:
            await self._write("adjust_power_limit", power_limit=str(int(watts)))

    async def set_frequency(self, mhz: float) -> None:
        """Aim the chips at ``mhz``. btminer takes the target frequency as a percent of the
        factory frequency (``set_target_freq`` / ``set.miner.target_freq``, -10 to 100);
        the factory frequency is the one the last poll showed, less the percent this
        driver set since (an offset set by another tool before is taken as factory)."""
        if not 0 < mhz < 10000:
            raise ValueError(f"chip frequency {mhz} MHz is out of range")
        if self._freq_mhz is None:
            await self.collect()  # a read, to learn the running frequency
        if self._freq_mhz is None:
            raise DeviceReplyInvalid("set_frequency: the miner reports no chip frequency "
                                     "(sleeping?)")  # fmt: skip
        factory = self._freq_mhz / (1 + self._freq_pct / 100.0)
        percent = round((mhz / factory - 1) * 100)
        if not FREQ_PCT_MIN <= percent <= FREQ_PCT_MAX:
            low, high = (round(factory * (1 + p / 100.0)) for p in (FREQ_PCT_MIN, FREQ_PCT_MAX))
            raise ValueError(f"{mhz} MHz is {percent:+d}% of the factory {factory:.0f} MHz; "
                             f"a Whatsminer takes {low}-{high} MHz")  # fmt: skip
        if self.v3:
            reply = await self.c3.request("set.miner.target_freq", percent)
            check_v3(reply, "set.miner.target_freq")
        else:
            await self._write("set_target_freq", percent=str(percent))
        self._freq_pct = percent
        self._freq_mhz = factory * (1 + percent / 100.0)

    async def set_led(self, on: bool) -> None:
        """Force the red LED on (locate), or give it back to the firmware (``auto``)."""
        if self.v3:
            param: Any = [{"color": "red", "period": 1000, "duration": 500, "start": 0}]
            reply = await self.c3.request("set.system.led", param if on else "auto")
            check_v3(reply, "set.system.led")
        elif on:
            await self._write("set_led", color="red", period=1000, duration=500, start=0)
        else:
            await self._write("set_led", param="auto")

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Make ``pools`` the three pool slots in order; unused slots are cleared."""
        if not pools:
            raise ValueError("set_pools needs at least one pool")
        if len(pools) > POOL_SLOTS:
            raise ValueError(f"a Whatsminer has {POOL_SLOTS} pool slots, got {len(pools)}")
        if self.v3:
            param = [{"pool": p.url, "worker": p.user, "passwd": p.password} for p in pools]
            check_v3(await self.c3.request("set.miner.pools", param), "set.miner.pools")
            return
        args: dict[str, str] = {}
        for n in range(1, POOL_SLOTS + 1):
            p = pools[n - 1] if n <= len(pools) else None
            args[f"pool{n}"] = p.url if p else ""
            args[f"worker{n}"] = p.user if p else ""
            args[f"passwd{n}"] = p.password if p else ""
        await self._write("update_pools", **args)

    async def close(self) -> None:
        """Nothing to release: every request uses its own short-lived connection."""
