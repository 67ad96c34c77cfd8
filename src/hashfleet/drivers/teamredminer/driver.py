"""The TeamRedMiner driver: ``summary+devs+pools+version`` joined in one request per poll
(single commands for builds that refuse joins); ``reboot`` is the API's ``restart``.

TeamRedMiner's API is sgminer's (``--api_listen``); joined commands are tried first and,
once refused with "Invalid command", the driver sends the four commands one by one.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient
from hashfleet.drivers.teamredminer.parse import parse
from hashfleet.model.snapshot import Snapshot

COMMANDS = ("summary", "devs", "pools", "version")
_INVALID_COMMAND = 14


class TeamRedMinerDriver:
    """Reads a TeamRedMiner rig into a :class:`Snapshot`; restarts it."""

    family: ClassVar[str] = "teamredminer"
    capabilities: ClassVar[frozenset[str]] = frozenset({"reboot"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 4028 unless ``opts.port``)."""
        self.opts = opts
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)
        self.joined = True

    async def _replies(self) -> dict[str, Any]:
        if self.joined:
            try:
                data = await self.client.request("+".join(COMMANDS))
            except DeviceCommandFailed as exc:
                if exc.details.get("status_code") != _INVALID_COMMAND:
                    raise
                self.joined = False  # this build does not join; ask one by one from now on
            else:
                out: dict[str, Any] = {}
                for cmd in COMMANDS:
                    part = data.get(cmd)
                    if not isinstance(part, list) or not part:
                        raise DeviceReplyInvalid(f"joined reply has no {cmd!r} part")
                    out[cmd] = part[0]
                return out
        return {cmd: await self.client.request(cmd) for cmd in COMMANDS}

    async def collect(self) -> Snapshot:
        """Poll once."""
        r = await self._replies()
        return parse(r["summary"], r["devs"], r["pools"], r["version"])

    async def reboot(self) -> None:
        """Restart the mining process (the API's privileged ``restart``)."""
        await self.client.request("restart", write=True)

    async def close(self) -> None:
        """Nothing is kept open between polls."""
