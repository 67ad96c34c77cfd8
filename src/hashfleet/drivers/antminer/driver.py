"""The Antminer driver (stock bmminer firmware and cgminer-compatible APIs on TCP 4028).

One poll sends one joined command, ``summary+stats+pools+version``; a firmware that
rejects joined commands (code 14) is then asked the four commands separately, in parallel.
Actions use cgminer's write commands: ``restart`` and ``addpool``/``switchpool``/
``removepool``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.antminer.parse import parse_joined
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient
from hashfleet.model.snapshot import Snapshot

COMMANDS = ("summary", "stats", "pools", "version")
JOINED = "+".join(COMMANDS)
_INVALID_COMMAND = 14


def _escape(value: str) -> str:
    # cgminer splits addpool's parameter on commas; a literal comma or backslash is escaped.
    return value.replace("\\", "\\\\").replace(",", "\\,")


class AntminerDriver:
    """Reads an Antminer into a :class:`Snapshot`; reboots it and replaces its pools."""

    family: ClassVar[str] = "antminer"
    capabilities: ClassVar[frozenset[str]] = frozenset({"reboot", "set_pools"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address`` (port 4028 unless ``opts.port``)."""
        self.opts = opts
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)
        self._joined = True

    async def collect(self) -> Snapshot:
        """Poll once: one joined request (four separate ones on firmware without joins)."""
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
        """Restart the mining process (cgminer ``restart``); uptime starts again from 0."""
        await self.client.request("restart", write=True)

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Make ``pools`` the device's pools, in priority order; a no-op if they already are."""
        if not pools:
            raise ValueError("set_pools needs at least one pool")
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
        """Nothing to release: every request uses its own short-lived connection."""
