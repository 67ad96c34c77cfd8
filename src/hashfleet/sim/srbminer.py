"""A simulated SRBMiner-MULTI (CPU + AMD/NVIDIA GPU miner): its HTTP API on port 21550.

Routes: ``GET /`` (and ``/stats``) gives the stats document: ``miner_version``,
``rig_name``, ``mining_time``, ``total_power``, ``algorithms[]`` (``name``,
``hashrate{gpu{total, gpu0…}, cpu{total, thread0…}}``, ``pool{pool, user, difficulty,
latency, uptime}``, ``shares{accepted, rejected}``, ``gpu_accepted_shares{gpu0…}``) and
``gpu_devices[]``/``cpu_devices[]`` with their sensors. SRBMiner mines on GPUs and the CPU
at once, one algorithm each (``autolykos2`` on the cards, ``randomx`` on the CPU here).

Its only remote control is the path given to ``--api-miner-restart-url``: a GET on it
restarts the miner (``/restart`` here; the rig restart/shutdown URLs are left out as they
reboot the machine). Version 0.9 (the quirky one) spells algorithm names capitalised, has
no ``total_power``, no memory temperature and only fan RPM.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from hashfleet.sim.base import Clock, ShareCounter, noise, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.gpu import AUTOLYKOS2, ETCHASH, KHEAVYHASH, GpuMinerSim, GpuSample
from hashfleet.sim.http import HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

API_PORT = 21550
VERSIONS = ("2.4.7", "0.9.7")
OLD = ("0.9.7",)
RESTART_PATH = "/restart"
RESTART_DOWNTIME = 3.0
CPU_MODEL = "AMD Ryzen 9 5950X 16-Core Processor"
CPU_THREADS = 16
CPU_RATE = 17800.0  # H/s on randomx with 16 threads
CPU_POWER = 128.0
CPU_DIFFICULTY = 120001.0
MAX_RPM = 3300.0
POOLS = {AUTOLYKOS2: "stratum+tcp://erg.pool.example.net:9999",
         KHEAVYHASH: "stratum+tcp://kas.pool.example.net:5555",
         ETCHASH: "stratum+tcp://etc.pool.example.net:1010"}  # fmt: skip


class SrbminerSim(GpuMinerSim):
    """One simulated SRBMiner-MULTI process: GPUs on one algorithm, optionally the CPU too."""

    family = "srbminer"
    software = "SRBMiner-MULTI"

    def __init__(
        self,
        address: str,
        *,
        port: int = API_PORT,
        seed: int = 0,
        clock: Clock = time.time,
        version: str = VERSIONS[0],
        cards: Sequence[str] | None = None,
        algos: Sequence[str] = (AUTOLYKOS2,),
        cpu: bool = True,
        restart_path: str = RESTART_PATH,
    ) -> None:
        """SRBMiner ``version``; ``cpu`` also mines randomx on the CPU."""
        if version not in VERSIONS:
            raise ValueError(f"unknown SRBMiner version {version!r}; one of: {VERSIONS}")
        super().__init__(address, port, seed=seed, clock=clock, version=version, cards=cards,
                         algos=algos, pool=POOLS.get(algos[0], POOLS[AUTOLYKOS2]))  # fmt: skip
        self.cpu = cpu
        self.restart_path = restart_path
        now = self.clock()
        self.cpu_shares = ShareCounter(CPU_RATE / CPU_DIFFICULTY, 0.004, now)
        self.cpu_shares.banked = self.uptime(now) * self.cpu_shares.rate
        self.cpu_pool = "stratum+tcp://xmr.pool.example.net:3333"

    def thing_opts(self) -> dict[str, object]:
        """Driver opts; a non-default restart path goes in ``params``."""
        opts = super().thing_opts()
        if self.restart_path != RESTART_PATH:
            opts["params"] = {"restart_url": self.restart_path}
        return opts

    def _faults_changed(self, now: float) -> None:
        super()._faults_changed(now)
        self.cpu_shares.set_running(now, self.fault is not Fault.POOL_DOWN)

    def _restarted(self, now: float) -> None:
        super()._restarted(now)
        self.cpu_shares.reset(self.boot_at)

    def _cpu(self, now: float) -> tuple[list[float], float, float]:
        """Per-thread hashrates, CPU temperature and power now."""
        working = self.fault is not Fault.POOL_DOWN and now >= self.boot_at
        hot = self.fault is Fault.OVERHEAT
        base = CPU_RATE * (0.6 if hot else 1.0) * (1.0 + 0.01 * wobble(self.seed, 501, now))
        second = int(now)
        threads = [
            round(base / CPU_THREADS * (1.0 + 0.02 * noise(self.seed, 600 + t, second)), 2)
            if working else 0.0
            for t in range(CPU_THREADS)
        ]  # fmt: skip
        temp = 96.0 if hot else (71.0 if working else 45.0) + 2.0 * wobble(self.seed, 502, now)
        power = (CPU_POWER if working else 35.0) + 4.0 * wobble(self.seed, 503, now)
        return threads, round(temp), round(power, 1)

    def _gpu_row(self, g: GpuSample, old: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": g.index, "device": f"gpu{g.index}", "device_id": g.index,
            "model": g.preset.name.removeprefix("NVIDIA ").removeprefix("AMD "),
            "bus_id": f"{g.pci_bus:02x}:00.0", "vendor": g.preset.vendor.upper(),
            "temperature": int(g.temp_c), "fan_speed_rpm": int(MAX_RPM * g.fan_pct / 100.0),
            "power": int(g.power_w), "core_clock": int(g.core_mhz),
            "memory_clock": int(g.mem_mhz), "memory_total": g.preset.vram_mb * 1024 * 1024,
        }  # fmt: skip
        if not old:
            row.update(fan_speed_percent=int(g.fan_pct), temperature_memory=int(g.mem_temp_c),
                       temperature_hotspot=int(g.hotspot_c))  # fmt: skip
        return row

    def _algo_name(self, name: str, old: bool) -> str:
        return name.capitalize() if old else name

    def stats(self) -> dict[str, Any]:
        """The stats document (``GET /``)."""
        now = self.clock()
        old = self.version in OLD
        down = self.fault is Fault.POOL_DOWN
        gpus = self.sample()
        uptime = self.uptime(now)
        algos: list[dict[str, Any]] = []
        pools = [self.pools[0], self.pool2]
        for a, name in enumerate(self.rig.algos):
            per = {f"gpu{g.index}": round(g.hashrates[a] or 0.0, 2) for g in gpus}
            acc = {f"gpu{g.index}": g.accepted[a] for g in gpus}
            rej = {f"gpu{g.index}": g.rejected[a] for g in gpus}
            algos.append(
                self._algo(
                    a,
                    self._algo_name(name, old),
                    pools[a],
                    per,
                    {},
                    sum(acc.values()),
                    sum(rej.values()),
                    down,
                    uptime,
                )
            )
            algos[-1].update(gpu_accepted_shares=acc, gpu_rejected_shares=rej)
        threads, cpu_temp, cpu_power = self._cpu(now)
        if self.cpu:
            per_thread = {f"thread{t}": h for t, h in enumerate(threads)}
            algos.append(self._algo(len(algos), self._algo_name("randomx", old), self.cpu_pool,
                                    {}, per_thread, self.cpu_shares.accepted(now),
                                    self.cpu_shares.rejected(now), down, uptime))  # fmt: skip
        doc: dict[str, Any] = {
            "rig_name": self.worker, "miner_version": self.version, "mining_time": uptime,
            "total_cpu_workers": CPU_THREADS if self.cpu else 0,
            "total_gpu_workers": len(gpus),
            "driver_version": {"amd": "22.20", "nvidia": "535.154.05"},
            "algorithms": algos,
            "gpu_devices": [self._gpu_row(g, old) for g in gpus],
            "cpu_devices": [{"id": 0, "model": CPU_MODEL, "temperature": cpu_temp,
                             "power": cpu_power, "threads": CPU_THREADS}] if self.cpu else [],
        }  # fmt: skip
        if not old:
            total = sum(g.power_w for g in gpus) + (cpu_power if self.cpu else 0.0)
            doc["total_power"] = round(total, 1)
        return doc

    def _algo(
        self,
        i: int,
        name: str,
        pool: str,
        gpu: dict[str, float],
        cpu: dict[str, float],
        accepted: int,
        rejected: int,
        down: bool,
        uptime: int,
    ) -> dict[str, Any]:
        gpu_total = round(sum(gpu.values()), 2)
        cpu_total = round(sum(cpu.values()), 2)
        return {
            "id": i, "name": name,
            "hashrate": {"gpu": {"total": gpu_total, **gpu}, "cpu": {"total": cpu_total, **cpu},
                         "now": round(gpu_total + cpu_total, 2)},
            "pool": {"pool": pool, "user": f"{self.user}.{self.worker}",
                     "difficulty": 0 if down else 4.0e9, "latency": 0 if down else 41,
                     "uptime": 0 if down else uptime},
            "shares": {"accepted": accepted, "rejected": rejected,
                       "total": accepted + rejected, "avg_find_time": 31},
        }  # fmt: skip

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """SRBMiner's stats and its miner-restart URL."""
        if request.method != "GET":
            return json_response({"error": "method not allowed"}, 405)
        if request.path in ("/", "/stats"):
            return json_response(self.stats())
        if request.path == self.restart_path:
            self.restart(RESTART_DOWNTIME)
            return json_response({"success": True, "message": "restarting miner"})
        return json_response({"error": "not found"}, 404)


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> SrbminerSim:
    """A farm's SRBMiner: ``model`` is the version; odd seeds mine GPU only."""
    version = model or VERSIONS[seed % len(VERSIONS)]
    algos = (KHEAVYHASH,) if seed % 3 == 1 else ((ETCHASH,) if seed % 3 == 2 else (AUTOLYKOS2,))
    return SrbminerSim(address, seed=seed, clock=clock, version=version, algos=algos,
                       cpu=seed % 2 == 0)  # fmt: skip


FAMILY = SimFamily(family="srbminer", models=VERSIONS, create=create, host=HttpSimServer)
