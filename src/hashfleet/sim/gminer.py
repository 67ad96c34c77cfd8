"""A simulated GMiner: its read-only HTTP API on ``--api`` (``GET /stat``).

``/stat`` holds the totals (``miner`` version, ``uptime``, ``server``, ``user``,
``algorithm``, ``total_accepted_shares``…) and ``devices[]`` (``speed``, ``temperature``,
``fan``, ``power_usage``, clocks, share counters). GMiner 3.x adds ``speed_unit``,
``memory_temperature`` and clocks; dual mining (3.x) shows as ``"Etchash + KHeavyHash"``
with ``server2``/``user2``, ``total_*_shares2`` and per-device ``speed2``/``*_shares2``.
GMiner has no control API. Faults come from the shared
:class:`~hashfleet.sim.gpu.GpuRig`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from hashfleet.sim.base import Clock
from hashfleet.sim.gpu import (
    AUTOLYKOS2,
    EQUIHASH125_4,
    ETCHASH,
    ETHASH,
    KAWPOW,
    KHEAVYHASH,
    OCTOPUS,
    GpuMinerSim,
)
from hashfleet.sim.http import HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

API_PORT = 10555  # GMiner's API is off without --api; 10555 is our convention
VERSIONS = ("3.44", "2.75")
OLD = ("2.75",)
NAMES: dict[str, str] = {
    ETCHASH: "Etchash", ETHASH: "Ethash", KAWPOW: "KawPow", AUTOLYKOS2: "Autolykos2",
    KHEAVYHASH: "KHeavyHash", EQUIHASH125_4: "Equihash 125_4", OCTOPUS: "Octopus",
}  # fmt: skip


class GminerSim(GpuMinerSim):
    """One simulated GMiner process and its rig."""

    family = "gminer"
    software = "GMiner"

    def __init__(
        self,
        address: str,
        *,
        port: int = API_PORT,
        seed: int = 0,
        clock: Clock = time.time,
        version: str = VERSIONS[0],
        cards: Sequence[str] | None = None,
        algos: Sequence[str] = (ETCHASH,),
    ) -> None:
        """GMiner ``version`` on ``address:port`` mining ``algos`` (two: dual mining)."""
        if version not in VERSIONS:
            raise ValueError(f"unknown GMiner version {version!r}; one of: {VERSIONS}")
        if version in OLD and len(algos) > 1:
            raise ValueError("this simulated GMiner 2.x does not dual mine")
        super().__init__(address, port, seed=seed, clock=clock, version=version, cards=cards,
                         algos=algos)  # fmt: skip

    def stat(self) -> dict[str, Any]:
        """The ``/stat`` document."""
        now = self.clock()
        old = self.version in OLD
        gpus = self.sample()
        algos = self.rig.algos
        unit = "Sol/s" if algos[0] == EQUIHASH125_4 else "H/s"
        devices = []
        for g in gpus:
            dev: dict[str, Any] = {
                "gpu_id": g.index, "cuda_id": g.index if g.preset.vendor == "nvidia" else -1,
                "bus_id": f"0000:{g.pci_bus:02x}:00.0", "name": g.preset.name,
                "speed": round(g.hashrates[0] or 0.0, 2), "accepted_shares": g.accepted[0],
                "rejected_shares": g.rejected[0], "stale_shares": g.rejected[0] // 2,
                "invalid_shares": 0, "fan": int(g.fan_pct), "temperature": int(g.temp_c),
                "temperature_limit": 90, "power_usage": int(g.power_w),
            }  # fmt: skip
            if not old:
                dev.update(memory_temperature=int(g.mem_temp_c), core_clock=int(g.core_mhz),
                           memory_clock=int(g.mem_mhz), speed_unit=unit)  # fmt: skip
            if self.rig.dual:
                dev.update(speed2=round(g.hashrates[1] or 0.0, 2), accepted_shares2=g.accepted[1],
                           rejected_shares2=g.rejected[1], stale_shares2=0,
                           invalid_shares2=0)  # fmt: skip
            devices.append(dev)
        doc: dict[str, Any] = {
            "miner": f"GMiner {self.version}", "uptime": self.uptime(now),
            "server": self.pools[0], "user": f"{self.user}.{self.worker}",
            "algorithm": " + ".join(NAMES[a] for a in algos),
            "electricity": round(sum(g.power_w for g in gpus) * self.uptime(now) / 3.6e6, 3),
            "total_accepted_shares": sum(g.accepted[0] for g in gpus),
            "total_rejected_shares": sum(g.rejected[0] for g in gpus),
            "total_stale_shares": sum(g.rejected[0] // 2 for g in gpus),
            "total_invalid_shares": 0, "pool_speed": 0, "power_unit": "W",
            "devices": devices,
        }  # fmt: skip
        if not old:
            doc.update(speed_rate_precision=2, speed_unit=unit)
        if self.rig.dual:
            doc.update(server2=self.pool2, user2=f"{self.user2}.{self.worker}",
                       total_accepted_shares2=sum(g.accepted[1] for g in gpus),
                       total_rejected_shares2=sum(g.rejected[1] for g in gpus),
                       total_stale_shares2=0, total_invalid_shares2=0,
                       speed_unit2="H/s")  # fmt: skip
        return doc

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """``GET /stat`` (GMiner's web page on ``/`` is not simulated)."""
        if request.method == "GET" and request.path == "/stat":
            return json_response(self.stat())
        return web.Response(status=404, text="Not Found")


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> GminerSim:
    """A farm's GMiner: ``model`` is the version; every third 3.x one dual mines."""
    version = model or VERSIONS[seed % len(VERSIONS)]
    dual = version not in OLD and seed % 3 == 2
    algos = (ETCHASH, KHEAVYHASH) if dual else ((EQUIHASH125_4,) if seed % 2 else (ETCHASH,))
    return GminerSim(address, seed=seed, clock=clock, version=version, algos=algos)


FAMILY = SimFamily(family="gminer", models=VERSIONS, create=create, host=HttpSimServer)
