"""A simulated lolMiner: its read-only HTTP JSON API on ``--apiport`` (``GET /`` and
``GET /summary`` answer the same document).

Two document shapes: lolMiner 1.3x and later (``Workers[]`` with sensors and clocks,
``Algorithms[]`` with totals and ``Worker_Performance[]`` per card, two entries when dual
mining) and the legacy 1.2x shape (``Session`` totals, ``Stratum``, ``GPUs[]``). lolMiner
has no control API, so the simulator has no controls either. Faults are rendered by the
shared :class:`~hashfleet.sim.gpu.GpuRig` (hot cards, a dead card at 0, every card idle
with frozen shares when the pool is gone).
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

API_PORT = 8020  # lolMiner has no default (the API is off without --apiport); 8020 is usual
VERSIONS = ("1.88", "1.29")
LEGACY = ("1.29",)
# Canonical algorithm → (name lolMiner shows, unit, factor to H/s).
NAMES: dict[str, tuple[str, str, float]] = {
    ETCHASH: ("Etchash", "Mh/s", 1e6), ETHASH: ("Ethash", "Mh/s", 1e6),
    AUTOLYKOS2: ("Autolykos V2", "Mh/s", 1e6), KHEAVYHASH: ("kHeavyHash", "Gh/s", 1e9),
    EQUIHASH125_4: ("Equihash 125/4", "Sol/s", 1.0), OCTOPUS: ("Octopus", "Mh/s", 1e6),
    KAWPOW: ("KawPow", "Mh/s", 1e6),
}  # fmt: skip
BUILD_DATES = {"1.88": "Jun 21 2024", "1.29": "Apr 12 2021"}


class LolminerSim(GpuMinerSim):
    """One simulated lolMiner process and its rig."""

    family = "lolminer"
    software = "lolMiner"

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
        """lolMiner ``version`` on ``address:port`` mining ``algos`` (two: dual mining)."""
        if version not in VERSIONS:
            raise ValueError(f"unknown lolMiner version {version!r}; one of: {VERSIONS}")
        if version in LEGACY and len(algos) > 1:
            raise ValueError("lolMiner 1.2x does not dual mine")
        super().__init__(address, port, seed=seed, clock=clock, version=version, cards=cards,
                         algos=algos)  # fmt: skip
        # lolMiner shows pools without their scheme.
        self.pools = [p.removeprefix("stratum+tcp://") for p in self.pools]
        self.pool2 = self.pool2.removeprefix("stratum+tcp://")

    def document(self) -> dict[str, Any]:
        """The API document of this version."""
        return self.legacy() if self.version in LEGACY else self.current()

    def current(self) -> dict[str, Any]:
        """lolMiner 1.3x+ ``/summary``."""
        now = self.clock()
        gpus = self.sample()
        start = int(self.boot_at)
        workers = [
            {"Index": g.index, "Name": g.preset.name, "Power": g.power_w, "CCLK": g.core_mhz,
             "MCLK": g.mem_mhz, "Core_Temp": g.temp_c, "Juc_Temp": g.hotspot_c,
             "Mem_Temp": g.mem_temp_c, "Fan_Speed": g.fan_pct, "LHR_Unlock_Value": 0,
             "PCIE_Address": f"{g.pci_bus}:0"}
            for g in gpus
        ]  # fmt: skip
        algorithms = []
        for a, algo in enumerate(self.rig.algos):
            name, unit, factor = NAMES[algo]
            # A card still building its DAG shows 0 until its first hashrate window.
            perf = [round((g.hashrates[a] or 0.0) / factor, 2) for g in gpus]
            acc = [g.accepted[a] for g in gpus]
            rej = [g.rejected[a] for g in gpus]
            algorithms.append(
                {"Algorithm": name, "Algorithm_Appendix": "",
                 "Pool": self.pools[0] if a == 0 else self.pool2,
                 "User": self.user if a == 0 else self.user2,
                 "Worker": self.worker, "Performance_Unit": unit, "Performance_Factor": factor,
                 "Total_Performance": round(sum(perf), 2), "Total_Accepted": sum(acc),
                 "Total_Rejected": sum(rej), "Total_Stales": sum(rej) // 2, "Total_Errors": 0,
                 "Worker_Performance": perf, "Worker_Accepted": acc, "Worker_Rejected": rej,
                 "Worker_Stales": [r // 2 for r in rej], "Worker_Errors": [0] * len(gpus)}
            )  # fmt: skip
        return {
            "Software": f"lolMiner {self.version}", "Build_Date": BUILD_DATES[self.version],
            "Session": {"Startup": start, "Startup_String": time.strftime(
                "%Y-%m-%d %H:%M:%S", time.gmtime(start)), "Uptime": self.uptime(now),
                "Last_Update": int(now), "Active_GPUs": len(gpus)},
            "Num_Workers": len(gpus), "Workers": workers,
            "Num_Algorithms": len(algorithms), "Algorithms": algorithms,
        }  # fmt: skip

    def legacy(self) -> dict[str, Any]:
        """lolMiner 1.2x ``/summary``: one algorithm, per-card sensors inside ``GPUs[]``."""
        now = self.clock()
        gpus = self.sample()
        name, unit, factor = NAMES[self.rig.algos[0]]
        perf = [round((g.hashrates[0] or 0.0) / factor, 2) for g in gpus]
        acc = [g.accepted[0] for g in gpus]
        sub = [g.accepted[0] + g.rejected[0] for g in gpus]
        down = self.fault.value == "pool_down"
        return {
            "Software": f"lolMiner {self.version}",
            "Mining": {"Algorithm": name},
            "Session": {"Startup": int(self.boot_at), "Uptime": self.uptime(now),
                        "Last_Update": int(now), "Active_GPUs": len(gpus),
                        "Performance_Summary": round(sum(perf), 2),
                        "Performance_Unit": unit.lower(), "Accepted": sum(acc),
                        "Submitted": sum(sub),
                        "TotalPower": round(sum(g.power_w for g in gpus), 1)},
            "Stratum": {"Current_Pool": self.pools[0], "Current_User": self.user,
                        "Average_Latency": 0.0 if down else 31.4},
            "GPUs": [
                {"Index": g.index, "Name": g.preset.name, "Performance": perf[g.index],
                 "Consumption (W)": g.power_w, "Fan Speed (%)": g.fan_pct,
                 "Temp (deg C)": g.temp_c, "Mem Temp (deg C)": g.mem_temp_c,
                 "Session_Accepted": acc[g.index], "Session_Submitted": sub[g.index],
                 "Session_HWErr": 0, "PCIE_Address": f"{g.pci_bus}:0"}
                for g in gpus
            ],
        }  # fmt: skip

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """``GET /`` and ``GET /summary``; lolMiner answers nothing else."""
        if request.method == "GET" and request.path in ("/", "/summary"):
            return json_response(self.document())
        return web.Response(status=404, text="Not Found")


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> LolminerSim:
    """A farm's lolMiner: ``model`` is the version; every third modern one dual mines."""
    version = model or VERSIONS[seed % len(VERSIONS)]
    dual = version not in LEGACY and seed % 3 == 2
    algos = (ETCHASH, KHEAVYHASH) if dual else ((AUTOLYKOS2,) if seed % 2 else (ETCHASH,))
    return LolminerSim(address, seed=seed, clock=clock, version=version, algos=algos)


FAMILY = SimFamily(family="lolminer", models=VERSIONS, create=create, host=HttpSimServer)
