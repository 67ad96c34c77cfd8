"""The BzMiner driver: one ``GET /status`` per poll.

BzMiner's HTTP API has no control endpoints in current releases (real-time management was
taken out; bzminer issue #203), so the driver declares none. ``--http_password`` protects
only write endpoints; when a thing has a password it is sent as ``?password=`` anyway, as
v7.x wanted it on every request.
"""

from __future__ import annotations

from typing import ClassVar

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.bzminer.parse import parse
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.model.snapshot import Snapshot

API_PORT = 4014


class BzminerDriver:
    """Reads a BzMiner rig into a :class:`Snapshot`."""

    family: ClassVar[str] = "bzminer"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 4014 unless ``opts.port``)."""
        self.opts = opts
        self.client = HttpJsonClient(f"http://{opts.address}:{opts.port or API_PORT}", opts.timeout)
        self.params = {"password": opts.password} if opts.password else None

    async def collect(self) -> Snapshot:
        """Poll once."""
        return parse(await self.client.request("GET", "/status", params=self.params))

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
