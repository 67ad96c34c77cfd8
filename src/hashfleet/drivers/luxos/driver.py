"""The LuxOS driver: LUXminer's cgminer-compatible API on TCP 4028.

One poll is one joined request. Writes need a session: ``logon`` (or ``session`` when one is
already open) gives its id, which goes first in every write's parameter; a write refused for
its session logs on again once. Controls: ``rebootdevice``, pools, ``curtail`` sleep/wakeup
and ``profileset`` for the power modes, ``ledset`` for the locate light, ``fanset``
(``speed=<percent>``, -1 automatic) and ``frequencyset`` (``<board>,<MHz>``, every board).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.cgminer_family.common import replace_pools
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient
from hashfleet.drivers.luxos.parse import parse_luxminer
from hashfleet.model.snapshot import Snapshot

COMMANDS = ("summary", "stats", "pools", "version", "power", "config")
JOINED = "+".join(COMMANDS)
# Power mode → LuxOS profile (profiles step the stock one down or up).
PROFILES = {"low": "-2", "normal": "default", "high": "+1"}
# A sanity range for frequencyset (not a documented LuxOS limit).
FREQ_RANGE_MHZ = (100, 1200)


class LuxosDriver:
    """Reads a LuxOS miner; reboots, re-pools, curtails, profiles and blinks it, sets its fans
    and chip frequency."""

    family: ClassVar[str] = "luxos"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "set_pools", "set_power_mode", "set_led", "set_fan", "set_frequency"}
    )

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address`` (port 4028 unless ``opts.port``)."""
        self.opts = opts
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)
        self._session = ""
        self._boards: int | None = None  # hashboards the last poll showed

    async def collect(self) -> Snapshot:
        """Poll once: one joined request."""
        snap = parse_luxminer(await self.client.request(JOINED))
        if snap.stats.hashboards:
            self._boards = len(snap.stats.hashboards)
        return snap

    async def _session_id(self) -> str:
        if not self._session:
            for command in ("session", "logon"):
                reply = await self.client.request(command)
                rows = reply.get("SESSION")
                if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
                    raise DeviceReplyInvalid(f"{command}: no SESSION")
                self._session = str(rows[0].get("SessionID") or "")
                if self._session:
                    break
        return self._session

    async def _prefix(self) -> str:
        return await self._session_id() + ","

    async def _write(self, command: str, *args: str) -> None:
        for attempt in (0, 1):
            param = ",".join((await self._session_id(), *args))
            try:
                await self.client.request(command, param, write=True)
                return
            except DeviceCommandFailed:
                if attempt:
                    raise
                self._session = ""  # the session may have expired: log on again once

    async def reboot(self) -> None:
        """Reboot the device (``rebootdevice``); uptime starts again from 0."""
        await self._write("rebootdevice")

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Make ``pools`` the miner's pools, in priority order."""
        await replace_pools(self.client, pools, self._prefix)

    async def set_power_mode(self, mode: str) -> None:
        """``sleep`` curtails; ``low``/``normal``/``high`` wake it and pick a profile."""
        if mode == "sleep":
            await self._write("curtail", "sleep")
            return
        if mode not in PROFILES:
            raise ValueError(f"LuxOS power modes are sleep, {', '.join(PROFILES)}; not {mode!r}")
        await self._write("curtail", "wakeup")
        await self._write("profileset", PROFILES[mode])

    async def set_led(self, on: bool) -> None:
        """Turn the red locate light on or off."""
        await self._write("ledset", "red", "on" if on else "off")

    async def set_fan(self, percent: int | None) -> None:
        """Fix the fans at ``percent`` (0-100), or hand them back to the firmware (``None``:
        ``fanset speed=-1``)."""
        if percent is not None and (
            isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100
        ):
            raise ValueError(f"a fan speed is 0-100 %, not {percent!r}")
        await self._write("fanset", f"speed={-1 if percent is None else percent}")

    async def set_frequency(self, mhz: float) -> None:
        """Run every hashboard's chips at ``mhz`` (``frequencyset <board>,<MHz>``, board by
        board; a later ``profileset`` replaces it)."""
        low, high = FREQ_RANGE_MHZ
        if not low <= mhz <= high:
            raise ValueError(f"chip frequency {mhz} MHz is outside {low}-{high} MHz")
        if self._boards is None:
            await self.collect()  # a read, to learn how many boards there are
        for board in range(self._boards or 0):
            await self._write("frequencyset", str(board), str(round(mhz)))

    async def close(self) -> None:
        """Nothing to release: every request uses its own short-lived connection."""
