"""The SRBMiner-MULTI driver: one ``GET /`` per poll; ``reboot`` restarts the miner.

SRBMiner's API has no pause, pool or config endpoints; its only remote control is a URL
path the operator chooses with ``--api-miner-restart-url`` (a GET on it restarts the
mining process). The thing gives that path as ``params["restart_url"]`` (default
``/restart``).
"""

from __future__ import annotations

from typing import ClassVar

from hashfleet.core.errors import BadRequest
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.srbminer.parse import parse
from hashfleet.model.snapshot import Snapshot

API_PORT = 21550
RESTART_URL = "/restart"


class SrbminerDriver:
    """Reads an SRBMiner-MULTI rig into a :class:`Snapshot`; restarts the miner."""

    family: ClassVar[str] = "srbminer"
    capabilities: ClassVar[frozenset[str]] = frozenset({"reboot"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 21550 unless ``opts.port``)."""
        restart = opts.params.get("restart_url", RESTART_URL)
        if not isinstance(restart, str) or not restart.startswith("/"):
            raise BadRequest("params.restart_url must be a path starting with '/'",
                             code="ERR_THING_OPTS_INVALID")  # fmt: skip
        self.opts = opts
        self.restart_url = restart
        self.client = HttpJsonClient(f"http://{opts.address}:{opts.port or API_PORT}", opts.timeout)

    async def collect(self) -> Snapshot:
        """Poll once."""
        return parse(await self.client.request("GET", "/"))

    async def reboot(self) -> None:
        """Restart the mining process (SRBMiner answers, then restarts; the reply body
        differs between versions, so only the HTTP status counts)."""
        await self.client.request("GET", self.restart_url, raw=True)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
