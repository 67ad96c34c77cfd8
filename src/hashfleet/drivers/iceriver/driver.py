"""The IceRiver driver: one ``POST /user/userpanel?post=4`` per poll, inside a web session
(logged in on first use and again whenever the session has expired or the miner rebooted).

Controls: the locate light (``post=5``, as pyasic does), the three pool slots
(``/user/pools?post=1``) and reboot (``/user/reboot?post=1``). The stock panel has no
sleep or power modes, so the driver offers none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from hashfleet.core.errors import DeviceCommandFailed
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.iceriver.client import WEB_PORT, IceRiverClient
from hashfleet.drivers.iceriver.parse import parse_userpanel
from hashfleet.model.snapshot import Snapshot

POOL_SLOTS = 3


class IceRiverDriver:
    """Reads an IceRiver into a :class:`Snapshot`; locates, re-pools and reboots it."""

    family: ClassVar[str] = "iceriver"
    capabilities: ClassVar[frozenset[str]] = frozenset({"reboot", "set_pools", "set_led"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the panel at ``opts.address`` (port 80 unless ``opts.port``), logging in as
        ``opts.username``/``opts.password`` (the factory admin/12345678 by default)."""
        self.opts = opts
        self.client = IceRiverClient(opts.address, opts.port or WEB_PORT, opts.timeout,
                                     opts.username, opts.password)  # fmt: skip

    async def collect(self) -> Snapshot:
        """Poll once."""
        return parse_userpanel(await self.client.call("/user/userpanel", {"post": "4"}))

    async def _control(
        self, path: str, params: Mapping[str, str], form: Mapping[str, str] | None = None
    ) -> None:
        reply = await self.client.call(path, params, form)
        if reply.get("code") != 0:
            msg = str(reply.get("msg") or f"code {reply.get('code')!r}")
            raise DeviceCommandFailed(f"{path}: {msg}", command=path, status_msg=msg)

    async def set_led(self, on: bool) -> None:
        """Switch the locate light on or off."""
        await self._control("/user/userpanel", {"post": "5", "locate": "1" if on else "0"})

    async def reboot(self) -> None:
        """Reboot the miner; its sessions end, so the next poll logs in again."""
        await self._control("/user/reboot", {"post": "1"})
        self.client.logged_in = False

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Write ``pools`` into the three slots in priority order; unused slots are cleared."""
        if not pools:
            raise ValueError("set_pools needs at least one pool")
        if len(pools) > POOL_SLOTS:
            raise ValueError(f"an IceRiver has {POOL_SLOTS} pool slots, got {len(pools)} pools")
        form: dict[str, str] = {}
        for n in range(1, POOL_SLOTS + 1):
            pool = pools[n - 1] if n <= len(pools) else None
            form[f"pool{n}"] = pool.url if pool else ""
            form[f"user{n}"] = pool.user if pool else ""
            form[f"pass{n}"] = pool.password if pool else ""
        await self._control("/user/pools", {"post": "1"}, form)

    async def close(self) -> None:
        """Close the HTTP session (and with it the panel session cookie)."""
        await self.client.close()
