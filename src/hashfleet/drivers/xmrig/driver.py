"""The XMRig driver: polls ``/2/summary`` and ``/2/backends``; pauses and resumes mining
through ``POST /json_rpc``, reads and replaces the config with ``GET``/``PUT /1/config``
(all of these need XMRig's ``restricted: false`` and its access token, given as the
thing's ``password``).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.xmrig.client import API_PORT, XmrigClient
from hashfleet.drivers.xmrig.parse import cpu_backends_from_summary, has_gpu_backend, parse
from hashfleet.model.snapshot import Snapshot

BACKENDS_RECHECK_S = 60.0


class XmrigDriver:
    """Reads an XMRig rig into a :class:`Snapshot`; pauses and resumes it."""

    family: ClassVar[str] = "xmrig"
    capabilities: ClassVar[frozenset[str]] = frozenset({"pause", "resume", "set_config"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 8080 unless ``opts.port``)."""
        self.opts = opts
        self.client = XmrigClient(opts.address, opts.port or API_PORT, opts.timeout, opts.password)
        self._backends = True
        self._gpu = True  # unknown until /2/backends has been read once
        self._backends_at = float("-inf")
        self._uptime = -1

    async def collect(self) -> Snapshot:
        """Poll once: the summary, and the per-device backends when they add something.

        ``/2/backends`` is what tells GPU temperatures, power and fans; a CPU-only XMRig's
        board is fully described by the summary's per-thread hashrates. So backends are read
        on every poll while a GPU backend is enabled, and otherwise once a minute and after a
        restart (a config change can enable one) — half the requests for the common rig.
        """
        summary = await self.client.request("GET", "/2/summary")
        backends: Any = None
        if self._backends and self._backends_due(summary):
            try:
                backends = await self.client.request("GET", "/2/backends")
            except DeviceCommandFailed as exc:
                if exc.details.get("http_status") != 404:
                    raise
                self._backends = False  # XMRig before 6.x has no /2/backends
            else:
                self._gpu = has_gpu_backend(backends)
                self._backends_at = time.monotonic()
        if backends is None:
            backends = cpu_backends_from_summary(summary)
        return parse(summary, backends)

    def _backends_due(self, summary: Any) -> bool:
        uptime = summary.get("uptime") if isinstance(summary, dict) else None
        restarted = isinstance(uptime, int) and uptime < self._uptime
        if isinstance(uptime, int):
            self._uptime = uptime
        stale = time.monotonic() - self._backends_at >= BACKENDS_RECHECK_S
        return self._gpu or restarted or stale

    async def pause(self) -> None:
        """Stop hashing (the process and its pool connection stay up)."""
        await self._rpc("pause")

    async def resume(self) -> None:
        """Hash again after :meth:`pause`."""
        await self._rpc("resume")

    async def get_config(self) -> dict[str, Any]:
        """The config XMRig runs with (``GET /1/config``; 403 → ``DeviceCommandFailed``
        while the API is restricted)."""
        doc = await self.client.request("GET", "/1/config")
        if not isinstance(doc, dict):
            raise DeviceReplyInvalid("GET /1/config: the config is not an object")
        return doc

    async def set_config(self, doc: dict[str, Any]) -> None:
        """Replace XMRig's whole config with ``doc`` (``PUT /1/config``); XMRig reloads it,
        so new pools and algorithms apply at once. Fetch with :meth:`get_config`, change,
        send back: keys left out fall back to XMRig's defaults."""
        if not isinstance(doc, dict) or not doc:
            raise DeviceCommandFailed("set_config: the config must be a non-empty object",
                                      command="set_config")  # fmt: skip
        # XMRig answers 204 with no body (older builds 200 with one): only the status counts.
        await self.client.request("PUT", "/1/config", doc, raw=True)

    async def _rpc(self, method: str) -> None:
        reply = await self.client.request(
            "POST", "/json_rpc", {"method": method, "id": 1, "jsonrpc": "2.0"}
        )
        if not isinstance(reply, dict) or "error" in reply:
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise DeviceCommandFailed(f"{method}: {error}", command=method)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
