"""Chia driver: polls the full node, farmer and harvester RPC with mutual TLS.

``opts.params``: ``cert``, ``key`` (a client certificate signed by the farm's private CA,
e.g. ``~/.chia/mainnet/config/ssl/full_node/private_full_node.crt``), ``ca``
(``private_ca.crt``), all required; ``role``: ``"farmer"``, ``"harvester"``,
``"full_node"`` or ``"all"`` (default); ``ports`` (optional ``{"farmer": 8559, ...}``).
``opts.port`` overrides the port of a single role.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any, ClassVar

from hashfleet.core.errors import BadRequest, DeviceCommandFailed
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.chia.parse import parse, plot_count
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.model.snapshot import Snapshot

PORTS = {"full_node": 8555, "farmer": 8559, "harvester": 8560}
ROLES = ("farmer", "harvester", "full_node", "all")
PLOTS_REFRESH_S = 300.0


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="ERR_THING_OPTS_INVALID")


def client_ssl_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """Trust the farm's CA only and present our client cert; Chia's certs name no host."""
    try:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False  # daemon certs are for "chia.net", we dial an address
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise _invalid(f"params cert/key/ca: {exc}") from exc
    return ctx


class ChiaDriver:
    """Reads a Chia farm into the ``chia`` section; no controls."""

    family: ClassVar[str] = "chia"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Check params (``ERR_THING_OPTS_INVALID``) and load the TLS material."""
        params = opts.params
        paths = [params.get(k) for k in ("cert", "key", "ca")]
        if not all(isinstance(p, str) and p for p in paths):
            raise _invalid("params cert, key and ca (file paths) are required")
        for p in paths:
            if not Path(str(p)).is_file():
                raise _invalid(f"params: no such file {p}")
        role = params.get("role", "all")
        if role not in ROLES:
            raise _invalid(f"params.role must be one of {', '.join(ROLES)}")
        ports: dict[str, Any] = dict(PORTS)
        extra = params.get("ports")
        if extra is not None:
            if not isinstance(extra, dict) or not all(
                k in PORTS and isinstance(v, int) and not isinstance(v, bool)
                for k, v in extra.items()
            ):
                raise _invalid("params.ports must map full_node/farmer/harvester to ports")
            ports.update(extra)
        if role != "all" and opts.port is not None:
            ports[role] = opts.port
        self._summary = True
        self._plots_doc: Any = None
        self._plots_count: int | None = None
        self._plots_at = float("-inf")
        self.roles = list(PORTS) if role == "all" else [role]
        ctx = client_ssl_context(str(paths[0]), str(paths[1]), str(paths[2]))
        self.clients = {
            r: HttpJsonClient(f"https://{opts.address}:{ports[r]}", opts.timeout, ssl_context=ctx)
            for r in self.roles
        }

    async def collect(self) -> Snapshot:
        """One poll: each role's RPCs once."""
        got: dict[str, Any] = {}
        if "full_node" in self.clients:
            got["blockchain"] = await self._rpc("full_node", "get_blockchain_state")
        if "farmer" in self.clients:
            got["harvesters"] = await self._harvesters()
            got["signage_points"] = await self._rpc("farmer", "get_signage_points")
        if "harvester" in self.clients:
            got["plots"] = await self._plots(got.get("harvesters"))
        return parse(**got)

    async def _plots(self, harvesters: Any) -> Any:
        """``get_plots`` lists every plot (thousands on a real farm). With a farmer polled
        too, its harvester summary already counts plots and space, so the list (for missing
        and unreadable plots) is read every PLOTS_REFRESH_S, or at once when the farmer's
        count changes — a lost disk shows on the next poll."""
        count = plot_count(harvesters)
        fresh = time.monotonic() - self._plots_at < PLOTS_REFRESH_S
        if (
            self._plots_doc is not None
            and count is not None
            and count == self._plots_count
            and fresh
        ):
            return self._plots_doc
        doc = await self._rpc("harvester", "get_plots")
        self._plots_doc, self._plots_count, self._plots_at = doc, count, time.monotonic()
        return doc

    async def _harvesters(self) -> Any:
        """``get_harvesters_summary`` (Chia ≥ 1.3); older farmers only have the heavy
        ``get_harvesters`` with every plot listed, used after the first 404."""
        if self._summary:
            try:
                return await self._rpc("farmer", "get_harvesters_summary")
            except DeviceCommandFailed as exc:
                if exc.details.get("http_status") != 404:
                    raise
                self._summary = False
        return await self._rpc("farmer", "get_harvesters")

    async def _rpc(self, role: str, route: str) -> Any:
        return await self.clients[role].request("POST", f"/{route}", {})

    async def close(self) -> None:
        """Close every RPC session."""
        for client in self.clients.values():
            await client.close()
