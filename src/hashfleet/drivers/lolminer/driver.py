"""The lolMiner driver: one ``GET /summary`` per poll.

lolMiner's API is read-only (no pause, no pool change, no restart over HTTP), so this
driver declares no capabilities.
"""

from __future__ import annotations

from typing import ClassVar

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.gpu_common import decode
from hashfleet.drivers.lolminer.parse import parse
from hashfleet.model.snapshot import Snapshot

API_PORT = 8020  # lolMiner has no default API port; 8020 is the one its docs use


class LolminerDriver:
    """Reads a lolMiner rig into a :class:`Snapshot`."""

    family: ClassVar[str] = "lolminer"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 8020 unless ``opts.port``)."""
        self.opts = opts
        self.client = HttpJsonClient(f"http://{opts.address}:{opts.port or API_PORT}", opts.timeout)

    async def collect(self) -> Snapshot:
        """Poll once."""
        # Fetched raw and decoded here: see gpu_common.decode (invalid UTF-8).
        return parse(decode(await self.client.request("GET", "/summary", raw=True)))

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
