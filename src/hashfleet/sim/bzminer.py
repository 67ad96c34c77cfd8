"""A simulated BzMiner (GPU miner, NVIDIA and AMD): its HTTP API on port 4014.

Route: ``GET /status`` — ``bzminer_version``, ``rig_name``, ``uptime_s``, ``pools[]`` (one
per algorithm: ``url``, ``username``, ``algorithm``, ``hashrate``, ``valid_solutions``,
``rejected_solutions``, ``status`` 2 connected / 0 disconnected) and ``devices[]`` (one per
card: ``name``, ``vendor``, ``hashrate[]``/``valid_solutions[]``/``rejected_solutions[]``
one entry per pool the card mines, ``core_temp``, ``mem_temp``, ``fan``, ``power``,
``clock_rate``, ``memory_rate``, ``message[]``). BzMiner's HTTP API only reads here: the
author removed real-time management (pause, algorithm switch) from it (bzminer issue #203),
so no controls are simulated.

Version 13 (the quirky one) has no clock fields, reports ``mem_temp`` -1 when a card has no
memory sensor and sends ``power`` as a string.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from hashfleet.sim.base import Clock
from hashfleet.sim.faults import Fault
from hashfleet.sim.gpu import AUTOLYKOS2, ETCHASH, KHEAVYHASH, GpuMinerSim
from hashfleet.sim.http import HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

API_PORT = 4014
VERSIONS = ("21.3.7", "13.1.1")
OLD = ("13.1.1",)
_VENDOR = {"nvidia": 1, "amd": 2}


class BzminerSim(GpuMinerSim):
    """One simulated BzMiner process and its rig."""

    family = "bzminer"
    software = "BzMiner"

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
        """BzMiner ``version`` on ``address:port`` mining ``algos`` (two: dual mining)."""
        if version not in VERSIONS:
            raise ValueError(f"unknown BzMiner version {version!r}; one of: {VERSIONS}")
        super().__init__(address, port, seed=seed, clock=clock, version=version, cards=cards,
                         algos=algos)  # fmt: skip

    def status(self) -> dict[str, Any]:
        """The ``/status`` document."""
        now = self.clock()
        old = self.version in OLD
        down = self.fault is Fault.POOL_DOWN
        gpus = self.sample()
        urls = [self.pools[0], self.pool2]
        pools = []
        for a, algo in enumerate(self.rig.algos):
            pools.append({
                "id": a, "status": 0 if down else 2, "algorithm": algo, "url": urls[a],
                "username": f"{self.user}.{self.worker}", "wallet": self.user,
                "hashrate": round(sum(g.hashrates[a] or 0.0 for g in gpus), 2),
                "valid_solutions": sum(g.accepted[a] for g in gpus),
                "rejected_solutions": sum(g.rejected[a] for g in gpus),
                "stale_solutions": 0, "invalid_solutions": 0, "difficulty": 4.0e9,
                "latency": 0 if down else 38, "uptime_s": 0 if down else self.uptime(now),
            })  # fmt: skip
        devices = []
        for g in gpus:
            n = len(self.rig.algos)
            message = ""
            if g.dead:
                message = "GPU hung, restart required"
            elif g.throttled:
                message = "Overheating, throttling"
            elif down:
                message = "Waiting for job"
            dev: dict[str, Any] = {
                "index": g.index, "device_id": g.index, "vendor": _VENDOR[g.preset.vendor],
                "name": g.preset.name, "pci_bus_id": g.pci_bus, "status": [1] * n,
                "message": [message] * n, "pool": list(range(n)),
                "hashrate": [r or 0.0 for r in g.hashrates],
                "valid_solutions": g.accepted, "rejected_solutions": g.rejected,
                "stale_solutions": [0] * n, "invalid_solutions": [0] * n,
                "core_temp": g.temp_c, "fan": g.fan_pct, "total_mem": g.preset.vram_mb,
            }  # fmt: skip
            has_mem = g.preset.key == "RTX 3080" or g.preset.vendor == "amd"
            if old:
                dev["mem_temp"] = g.mem_temp_c if has_mem else -1
                dev["power"] = f"{g.power_w:.1f}"
            else:
                dev.update(mem_temp=g.mem_temp_c if has_mem else 0, power=g.power_w,
                           clock_rate=g.core_mhz, memory_rate=g.mem_mhz)  # fmt: skip
            devices.append(dev)
        return {
            "rig_name": self.worker, "bzminer_version": f"v{self.version}",
            "uptime_s": self.uptime(now), "cuda_driver_version": 12020,
            "watchdog_enabled": True, "pools": pools, "devices": devices,
        }  # fmt: skip

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """BzMiner's read-only API."""
        if request.method == "GET" and request.path == "/status":
            return json_response(self.status())
        return json_response({"result": "unknown endpoint"}, 404)


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> BzminerSim:
    """A farm's BzMiner: ``model`` is the version; every third new one dual mines."""
    version = model or VERSIONS[seed % len(VERSIONS)]
    algos = (ETCHASH, KHEAVYHASH) if seed % 3 == 2 else ((AUTOLYKOS2,) if seed % 2 else (ETCHASH,))
    return BzminerSim(address, seed=seed, clock=clock, version=version, algos=algos)


FAMILY = SimFamily(family="bzminer", models=VERSIONS, create=create, host=HttpSimServer)
