"""The VNish driver: the cgminer API on 4028 for the mining figures, the web API on port 80
(``params["web_port"]``) for power, state and every control.

One poll is one joined cgminer request and one ``GET /api/v1/summary``. The web token comes
from ``POST /api/v1/unlock`` with the web password (``opts.password``, VNish's default
"admin"); a 401 unlocks again once. Controls: ``system/reboot``, pools through ``settings``,
``mining/pause``/``resume`` as the sleep and normal power modes, ``find-miner`` for the light.

Power limit: VNish has no free wattage, only autotune presets. ``set_power_limit(watts)``
reads ``GET autotune/presets``, picks the highest *tuned* preset at or below ``watts``,
saves it as ``{"miner": {"overclock": {"preset": name}}}`` through ``POST settings`` and
reads ``settings`` back to check it took. The running preset's wattage is the snapshot's
``power_limit_w``; ``settings`` is read for it every :data:`SETTINGS_TTL_S` (after the
summary, on the same session) and after each power-limit change.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from hashfleet.core.errors import (
    BadRequest,
    DeviceCommandFailed,
    DeviceError,
    DeviceReplyInvalid,
)
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.vnish.parse import (
    active_preset,
    parse_presets,
    parse_vnish,
    preset_watts,
)
from hashfleet.model.snapshot import Snapshot

log = logging.getLogger(__name__)

JOINED = "summary+stats+pools+version"
WEB_PORT = 80
DEFAULT_PASSWORD = "admin"
_UNAUTHORIZED = 401
SETTINGS_TTL_S = 600.0  # how often a poll also reads the running preset


class VnishDriver:
    """Reads a VNish miner; reboots, re-pools, pauses/resumes it, blinks its light and caps
    its power through the autotune presets."""

    family: ClassVar[str] = "vnish"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "set_pools", "set_power_mode", "set_power_limit", "set_led"}
    )

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address``: 4028 (or ``opts.port``) and the web port."""
        self.opts = opts
        web_port = opts.params.get("web_port", WEB_PORT)
        if not isinstance(web_port, int) or isinstance(web_port, bool) or not 0 < web_port < 65536:
            raise BadRequest("params.web_port: a TCP port", code="ERR_THING_OPTS_INVALID")
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)
        self.web = HttpJsonClient(f"http://{opts.address}:{web_port}", opts.timeout)
        self.password = opts.password or DEFAULT_PASSWORD
        self._token = ""
        self._led: bool | None = None
        self.web_error: str | None = None  # why the last poll had no web summary
        self._limit_w: float | None = None  # the running preset's wattage
        self._settings_due = float("-inf")  # monotonic time to read ``settings`` again
        self._preset_watts: dict[str, float] = {}  # names → watts seen in autotune/presets

    async def collect(self) -> Snapshot:
        """Poll once: the joined cgminer request and the web summary, side by side.

        The web summary adds power and the paused state; when the web UI is down or refuses
        the password, the poll still stands on the cgminer reply (logged once).
        """
        rpc, web = await asyncio.gather(
            self.client.request(JOINED), self._read_web(), return_exceptions=True
        )
        if isinstance(rpc, BaseException):
            raise rpc
        if isinstance(web, DeviceError):
            if self.web_error is None:
                log.warning("%s: web UI not read, polling cgminer only: %s", self.opts.address, web)
            self.web_error = str(web)
            web = None
        elif isinstance(web, BaseException):
            raise web
        elif self.web_error is not None:
            log.info("%s: web UI readable again", self.opts.address)
            self.web_error = None
        snap = parse_vnish(rpc, web)
        snap.stats.led = self._led  # VNish reports the light only when it is toggled
        snap.stats.power_limit_w = self._limit_w
        return snap

    async def _read_web(self) -> Any:
        """The web summary; also ``settings`` when due (one after the other: one session,
        one token). A failed ``settings`` read is tried again next poll."""
        summary = await self._web("GET", "summary")
        if time.monotonic() >= self._settings_due:
            try:
                self._note_preset(active_preset(await self._web("GET", "settings")))
            except DeviceError as exc:
                log.debug("%s: settings not read: %s", self.opts.address, exc)
        return summary

    def _note_preset(self, name: str | None) -> None:
        watts = None if name is None else preset_watts(name)
        self._limit_w = watts if watts is not None else self._preset_watts.get(name or "")
        self._settings_due = time.monotonic() + SETTINGS_TTL_S

    async def _unlock(self) -> None:
        reply = await self.web.request("POST", "/api/v1/unlock", {"pw": self.password})
        token = reply.get("token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise DeviceReplyInvalid("unlock: no token")
        self._token = token
        self.web.headers["Authorization"] = token
        await self.web.close()  # the next session carries the new header

    async def _web(self, method: str, name: str, body: Any = None) -> Any:
        if not self._token:
            await self._unlock()
        try:
            return await self.web.request(method, f"/api/v1/{name}", body)
        except DeviceCommandFailed as exc:
            if exc.details.get("http_status") != _UNAUTHORIZED:
                raise
        await self._unlock()  # the token expired (a reboot forgets them): once more
        return await self.web.request(method, f"/api/v1/{name}", body)

    async def reboot(self) -> None:
        """Reboot the device; uptime starts again from 0."""
        await self._web("POST", "system/reboot", {})
        self._token = ""

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Save ``pools`` in priority order; VNish restarts its miner on them."""
        if not pools:
            raise ValueError("set_pools needs at least one pool")
        rows = [{"url": p.url, "user": p.user, "pass": p.password, "order": n}
                for n, p in enumerate(pools)]  # fmt: skip
        await self._web("POST", "settings", {"miner": {"pools": rows}})

    async def set_power_mode(self, mode: str) -> None:
        """``"sleep"`` pauses mining, ``"normal"`` resumes it."""
        if mode not in ("sleep", "normal"):
            raise ValueError(f"VNish power modes are sleep and normal, not {mode!r}")
        await self._web("POST", "mining/pause" if mode == "sleep" else "mining/resume", {})

    async def set_power_limit(self, watts: float) -> None:
        """Run the highest tuned autotune preset at or below ``watts``.

        ``ValueError`` (nothing written) for a limit that is not a positive number or is
        below every tuned preset (the message names the smallest); ``DeviceCommandFailed``
        when the miner has no tuned preset or does not keep the one saved.
        """
        if isinstance(watts, bool) or not isinstance(watts, (int, float)):
            raise ValueError(f"power limit must be a number of watts, not {watts!r}")
        if not 0 < watts < math.inf:
            raise ValueError(f"power limit {watts} W is out of range")
        presets = parse_presets(await self._web("GET", "autotune/presets"))
        self._preset_watts = {p.name: p.watts for p in presets}
        tuned = [p for p in presets if p.tuned]
        if not tuned:
            raise DeviceCommandFailed(
                "VNish has no tuned autotune preset to limit the power with",
                command="autotune/presets",
            )
        fitting = [p for p in tuned if p.watts <= watts]
        if not fitting:
            low = min(tuned, key=lambda p: p.watts)
            raise ValueError(
                f"power limit {watts:g} W is below the smallest tuned VNish preset, "
                f"{low.watts:g} W (preset {low.name!r})"
            )
        choice = max(fitting, key=lambda p: p.watts)
        await self._web("POST", "settings", {"miner": {"overclock": {"preset": choice.name}}})
        # VNish answers the same whether or not it took the preset: read it back.
        running = active_preset(await self._web("GET", "settings"))
        self._note_preset(running)
        if running != choice.name:
            raise DeviceCommandFailed(
                f"VNish kept preset {running!r} instead of {choice.name!r}", command="settings"
            )

    async def set_led(self, on: bool) -> None:
        """Turn the locate light on or off (``find-miner`` toggles it; its reply says which)."""
        for _ in range(2):
            reply = await self._web("POST", "find-miner", {})
            state = reply.get("on") if isinstance(reply, dict) else None
            if not isinstance(state, bool):
                raise DeviceReplyInvalid("find-miner: no on/off state")
            self._led = state
            if state is on:
                return

    async def close(self) -> None:
        """Close the web session."""
        await self.web.close()
