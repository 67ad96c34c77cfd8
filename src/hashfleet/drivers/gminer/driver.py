"""The GMiner driver: one ``GET /stat`` per poll.

GMiner's API is read-only (its ``/`` is a web page over the same data), so this driver
declares no capabilities.
"""

from __future__ import annotations

from typing import ClassVar

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.gminer.parse import parse
from hashfleet.drivers.gpu_common import decode
from hashfleet.model.snapshot import Snapshot

API_PORT = 10555  # GMiner has no default API port (--api enables it); our convention


class GminerDriver:
    """Reads a GMiner rig into a :class:`Snapshot`."""

    family: ClassVar[str] = "gminer"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 10555 unless ``opts.port``)."""
        self.opts = opts
        self.client = HttpJsonClient(f"http://{opts.address}:{opts.port or API_PORT}", opts.timeout)

    async def collect(self) -> Snapshot:
        """Poll once."""
        # Fetched raw and decoded here: see gpu_common.decode (invalid UTF-8).
        return parse(decode(await self.client.request("GET", "/stat", raw=True)))

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
