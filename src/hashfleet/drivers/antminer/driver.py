"""The Antminer driver (stock bmminer firmware and cgminer-compatible APIs on TCP 4028,
plus the stock web UI on port 80).

One poll sends one joined command, ``summary+stats+pools+version``; a firmware that
rejects joined commands (code 14) is then asked the four commands separately, in parallel.
The web UI (HTTP Digest, ``opts.username``/``opts.password``, root/root by default; off with
``params["web"] = False``) adds identity (MAC, hostname, serial: read once, then every 10
minutes), the work mode and the locate light (every 60 s and right after our own writes),
so most polls stay a single cgminer request. Without the web UI reads go on from cgminer
alone (no MAC, hostname, serial, work mode or light in the snapshot). When port 80 is
unreachable ``set_power_mode`` and ``set_led`` fail, while ``reboot`` and ``set_pools`` fall
back to cgminer's ``restart`` and ``addpool``/``switchpool``/``removepool`` (pools set that
way last only until the next restart; the web UI saves them). A refused login fails every
control with a ``DeviceCommandFailed`` that says so: the password is wrong, not the miner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceError,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.antminer.parse import ERR_HASHBOARD_DEAD, parse_joined
from hashfleet.drivers.antminer.web import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    WEB_PORT,
    AntminerWebClient,
)
from hashfleet.drivers.antminer.web_parse import (
    MAX_WEB_POOLS,
    MODE_CODES,
    Identity,
    check_write,
    conf_update,
    parse_blink_status,
    parse_miner_conf,
    parse_system_info,
    parse_web_stats,
)
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient
from hashfleet.model.snapshot import STATUS_SLEEPING, Snapshot

log = logging.getLogger(__name__)

COMMANDS = ("summary", "stats", "pools", "version")
JOINED = "+".join(COMMANDS)
_INVALID_COMMAND = 14
IDENTITY_EVERY = 600.0  # s between get_system_info reads
STATE_EVERY = 60.0  # s between work mode / locate light reads
ZERO_RATE_RECHECK = 10.0  # s: zero hashrate may mean someone else put the miner to sleep


def _escape(value: str) -> str:
    # cgminer splits addpool's parameter on commas; a literal comma or backslash is escaped.
    return value.replace("\\", "\\\\").replace(",", "\\,")


class AntminerDriver:
    """Reads an Antminer into a :class:`Snapshot`; reboots it and replaces its pools."""

    family: ClassVar[str] = "antminer"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "set_pools", "set_power_mode", "set_led"}
    )

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address`` (port 4028 unless ``opts.port``); the web UI
        on ``params["web_port"]`` (80) unless ``params["web"]`` is false."""
        self.opts = opts
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)
        self._joined = True
        self.web: AntminerWebClient | None = None
        if opts.params.get("web", True):
            self.web = AntminerWebClient(
                opts.address,
                int(opts.params.get("web_port", WEB_PORT)),
                opts.timeout,
                opts.username or DEFAULT_USER,
                opts.password or DEFAULT_PASSWORD,
            )
        self.web_error: str | None = None  # why the web UI failed last, None while it works
        self._identity: Identity | None = None
        self._work_mode: str | None = None
        self._led: bool | None = None
        self._api_off_logged = False
        self.clock = time.monotonic  # when web documents fall due; tests move it by hand
        self._identity_due = 0.0
        self._state_due = 0.0
        self._state_at = 0.0

    async def collect(self) -> Snapshot:
        """Poll once: the cgminer read, plus the web UI's documents when they are due."""
        try:
            snap = await self._read_cgminer()
        except DeviceOffline as exc:
            snap = await self._read_web_stats(exc)
        if self.web is None:
            return snap
        now = self.clock()
        due = now >= self._state_due or now >= self._identity_due
        if not due and snap.stats.hashrate == 0 and self._work_mode != "sleep":
            due = now >= self._state_at + ZERO_RATE_RECHECK
        if due:
            await self._read_web(now)
        self._apply(snap)
        return snap

    async def _read_web_stats(self, offline: DeviceOffline) -> Snapshot:
        """cgminer's port refuses: a miner with ``api-listen`` off still has its web UI."""
        if self.web is None or self.web_error is not None:
            raise offline
        try:
            snap = parse_web_stats(
                await self.web.summary(), await self.web.stats(), await self.web.pools()
            )
        except DeviceError:
            raise offline from None
        if not self._api_off_logged:
            log.warning("%s: cgminer API refuses; reading the web UI instead", self.opts.address)
            self._api_off_logged = True
        return snap

    def _apply(self, snap: Snapshot) -> None:
        ident = self._identity
        if ident is not None:
            config = snap.config
            config.mac, config.hostname, config.serial = ident.mac, ident.hostname, ident.serial
        stats = snap.stats
        if self._work_mode is not None or stats.work_mode is None:
            stats.work_mode = self._work_mode
        stats.led = self._led
        if stats.work_mode == "sleep":
            stats.status = STATUS_SLEEPING
            # Idle boards hash nothing by design; only a board without chips is dead.
            for board in stats.hashboards:
                board.ok = bool(board.chips)
            if all(board.ok for board in stats.hashboards):
                stats.errors = [e for e in stats.errors if e != ERR_HASHBOARD_DEAD]

    async def _read_web(self, now: float) -> None:
        """Refresh what the web UI adds; on failure keep polling cgminer and say so once."""
        assert self.web is not None
        try:
            if now >= self._identity_due:
                self._identity = parse_system_info(await self.web.system_info())
                self._identity_due = now + IDENTITY_EVERY
            conf = parse_miner_conf(await self.web.miner_conf())
            led = parse_blink_status(await self.web.blink_status())
        except DeviceError as exc:
            self._web_failed(exc)
            self._work_mode = self._led = None
            self._identity_due = max(self._identity_due, now + STATE_EVERY)
        else:
            if self.web_error is not None:
                log.info("%s: web UI answers again", self.opts.address)
            self.web_error = None
            self._work_mode, self._led = conf.work_mode, led
        self._state_due = now + STATE_EVERY
        self._state_at = now

    def _web_failed(self, exc: DeviceError) -> None:
        status = exc.details.get("http_status") if isinstance(exc, DeviceCommandFailed) else None
        reason = "refused the login" if status == 401 else str(exc)
        if self.web_error is None:
            log.warning("%s: web UI unavailable (%s); reading from cgminer alone",
                        self.opts.address, reason)  # fmt: skip
        self.web_error = reason

    def _web_changed(self) -> None:
        # Our write changed what the web UI reports: read it again on the next poll.
        self._state_due = 0.0

    def _need_web(self, control: str) -> AntminerWebClient:
        if self.web is None:
            raise DeviceCommandFailed(
                f"{control} needs the Antminer web UI, which is turned off (params web=false)",
                command=control,
            )
        return self.web

    async def _web_call(self, control: str, call: Any) -> Any:
        """Await a web UI call; unreachable or a refused login → ``DeviceCommandFailed``."""
        try:
            return await call
        except (DeviceOffline, DeviceTimeout) as exc:
            self._web_failed(exc)
            raise DeviceCommandFailed(
                f"{control}: the web UI is unreachable: {exc}",
                command=control,
                web_unreachable=True,
            ) from exc
        except DeviceCommandFailed as exc:
            self._web_failed(exc)
            if exc.details.get("http_status") == 401:
                raise DeviceCommandFailed(
                    f"{control}: the web UI refused the login (check username/password)",
                    command=control,
                    http_status=401,
                ) from exc
            raise

    async def _read_cgminer(self) -> Snapshot:
        if self._joined:
            try:
                reply = await self.client.request(JOINED)
            except DeviceCommandFailed as exc:
                if exc.details.get("status_code") != _INVALID_COMMAND:
                    raise
                self._joined = False  # remembered: this firmware never joins
            else:
                return parse_joined(reply)
        results = await asyncio.gather(
            *(self.client.request(cmd) for cmd in COMMANDS), return_exceptions=True
        )
        parts: dict[str, Any] = {}
        for cmd, result in zip(COMMANDS, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            parts[cmd] = [result]
        return parse_joined(parts)

    async def reboot(self) -> None:
        """Reboot through the web UI; without it, restart the mining process (cgminer
        ``restart``). Either way uptime starts again from 0."""
        if self.web is not None:
            try:
                await self._web_call("reboot", self.web.reboot())
            except DeviceCommandFailed as exc:
                # A refused login is a setup error to report, not a reason to go around it.
                if not exc.details.get("web_unreachable"):
                    raise
            else:
                self._web_changed()
                return
        await self.client.request("restart", write=True)

    async def set_power_mode(self, mode: str) -> None:
        """``"sleep"`` (boards off, fans low, the unit stays reachable) or ``"normal"``."""
        if mode not in MODE_CODES:
            raise ValueError(f"power mode {mode!r}: one of {', '.join(MODE_CODES)}")
        await self._write_conf("set_power_mode", mode=mode)

    async def set_led(self, on: bool) -> None:
        """Start or stop the locate light (``blink.cgi``)."""
        web = self._need_web("set_led")
        reply = await self._web_call("set_led", web.blink(on))
        check_write(reply, "blink", ("B000",) if on else ("B100",))
        self._led = on
        self._web_changed()

    async def _write_conf(
        self, control: str, *, pools: list[tuple[str, str, str]] | None = None,
        mode: str | None = None,
    ) -> None:  # fmt: skip
        web = self._need_web(control)
        try:
            conf = parse_miner_conf(await self._web_call(control, web.miner_conf()))
            body = conf_update(conf, pools=pools, mode=mode)
            reply = await self._web_call(control, web.set_miner_conf(body))
            check_write(reply, "set_miner_conf", ("M000",))
        finally:
            self._web_changed()

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Make ``pools`` the device's pools, in priority order. Through the web UI they are
        saved (and survive reboots; at most three); through cgminer only until a restart."""
        if not pools:
            raise ValueError("set_pools needs at least one pool")
        if self.web is not None:
            if len(pools) > MAX_WEB_POOLS:
                raise ValueError(f"the stock web UI keeps at most {MAX_WEB_POOLS} pools")
            wanted = [(p.url, p.user, p.password) for p in pools]
            try:
                await self._write_conf("set_pools", pools=wanted)
            except DeviceCommandFailed as exc:
                # Only an unreachable web UI is gone around; a refused login or a refused
                # configuration is reported.
                if not exc.details.get("web_unreachable"):
                    raise
            else:
                return
        await self._set_pools_cgminer(pools)

    async def _set_pools_cgminer(self, pools: Sequence[PoolTarget]) -> None:
        current = await self._pool_rows()
        if [(r.get("URL"), r.get("User")) for r in current] == [(p.url, p.user) for p in pools]:
            return
        first_new = len(current)
        for pool in pools:
            param = ",".join(_escape(v) for v in (pool.url, pool.user, pool.password))
            await self.client.request("addpool", param, write=True)
        # Mine on the first new pool before removing the old ones: cgminer refuses to
        # remove the active pool. switchpool also puts it first in priority.
        await self.client.request("switchpool", str(first_new), write=True)
        for n in reversed(range(first_new)):
            await self.client.request("removepool", str(n), write=True)

    async def _pool_rows(self) -> list[dict[str, Any]]:
        rows = (await self.client.request("pools")).get("POOLS", [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DeviceReplyInvalid("pools: POOLS is not a list of objects")
        return rows

    async def close(self) -> None:
        """Close the web UI's kept-alive connection (cgminer requests use their own)."""
        if self.web is not None:
            await self.web.close()
