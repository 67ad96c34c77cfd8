"""The Braiins OS driver: BOSminer's cgminer-compatible API on TCP 4028.

One poll is one joined request. Controls: ``restart`` (BOSminer restarts, uptime from 0),
pools with ``addpool``/``switchpool``/``removepool``, and ``pause``/``resume`` as the sleep and
normal power modes. The tuner's power target is only writable through Braiins OS's gRPC or
web configuration, which this driver does not speak: ``set_power_limit`` is not offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.braiins.parse import parse_bosminer
from hashfleet.drivers.cgminer_family.common import replace_pools
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient
from hashfleet.model.snapshot import Snapshot

COMMANDS = ("summary", "devs", "devdetails", "temps", "fans", "tunerstatus", "pools", "version")
JOINED = "+".join(COMMANDS)


class BraiinsDriver:
    """Reads a Braiins OS miner; reboots it, replaces its pools, pauses and resumes it."""

    family: ClassVar[str] = "braiins"
    capabilities: ClassVar[frozenset[str]] = frozenset({"reboot", "set_pools", "set_power_mode"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address`` (port 4028 unless ``opts.port``)."""
        self.opts = opts
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)

    async def collect(self) -> Snapshot:
        """Poll once: one joined request."""
        return parse_bosminer(await self.client.request(JOINED))

    async def reboot(self) -> None:
        """Restart BOSminer; uptime starts again from 0."""
        await self.client.request("restart", write=True)

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Make ``pools`` the miner's pools, in priority order."""
        await replace_pools(self.client, pools)

    async def set_power_mode(self, mode: str) -> None:
        """``"sleep"`` pauses hashing, ``"normal"`` resumes it."""
        if mode not in ("sleep", "normal"):
            raise ValueError(f"Braiins OS power modes are sleep and normal, not {mode!r}")
        await self.client.request("pause" if mode == "sleep" else "resume", write=True)

    async def close(self) -> None:
        """Nothing to release: every request uses its own short-lived connection."""
