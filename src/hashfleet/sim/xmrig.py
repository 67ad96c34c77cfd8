"""A simulated XMRig CPU miner: its HTTP API (``/1/summary``, ``/2/summary``,
``/2/backends``, ``POST /json_rpc``, ``GET``/``PUT /1/config`` and ``/2/config``) with
XMRig's authorization rules: the config endpoints answer 403 while the API is restricted,
and a ``PUT`` replaces the whole config (pools and algorithm take effect at once).

XMRig reports no CPU temperature, so ``overheat`` shows as thermal throttling (hashrate down
by 40 %); ``dead_board`` stalls half of the mining threads (they report 0 H/s); ``pool_down``
drops the pool connection: share counters freeze and, with no job to hash, the hashrate
windows decay to 0 as XMRig's do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from hashfleet.sim.base import Clock, ShareCounter, noise, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.http import HttpSimDevice, HttpSimServer

log = logging.getLogger(__name__)

API_PORT = 8080
VERSION = "6.21.0"
POOL_DIFFICULTY = 120001
_RX_SCRATCHPAD = 2 * 1024 * 1024  # RandomX wants 2 MiB of L3 per thread
_ALGORITHMS = [
    "cn/0", "cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz", "cn/zls",
    "cn/double", "cn/ccx", "cn-lite/1", "cn-heavy/xhv", "cn-pico", "cn-pico/tlo", "cn/upx2",
    "rx/0", "rx/wow", "rx/arq", "rx/graft", "rx/sfx", "rx/yada", "argon2/chukwa",
    "argon2/chukwav2", "argon2/ninja", "ghostrider",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class CpuPreset:
    """A CPU and the RandomX hashrate it makes."""

    brand: str
    cores: int
    threads: int
    hashrate: float  # H/s on rx/0
    l2: int
    l3: int
    family: int
    model: int
    msr: str
    assembly: str


CPUS: dict[str, CpuPreset] = {
    c.brand: c
    for c in (
        CpuPreset("AMD Ryzen 9 5950X 16-Core Processor", 16, 32, 18500.0, 8 << 20, 64 << 20,
                  25, 33, "ryzen_19h", "ryzen"),
        CpuPreset("AMD Ryzen 9 7950X 16-Core Processor", 16, 32, 24000.0, 16 << 20, 64 << 20,
                  25, 97, "ryzen_19h_zen4", "ryzen"),
        CpuPreset("AMD EPYC 7543 32-Core Processor", 32, 64, 38000.0, 16 << 20, 256 << 20,
                  25, 1, "ryzen_19h", "ryzen"),
        CpuPreset("Intel(R) Core(TM) i9-13900K", 24, 32, 16500.0, 32 << 20, 36 << 20,
                  6, 183, "intel", "intel"),
    )
}  # fmt: skip
DEFAULT_CPU = "AMD Ryzen 9 5950X 16-Core Processor"


class XmrigSim(HttpSimDevice):
    """One simulated XMRig: state, drifting hashrate, share counters, pause/resume."""

    family = "xmrig"

    def __init__(
        self,
        address: str,
        *,
        port: int = API_PORT,
        seed: int = 0,
        clock: Clock = time.time,
        cpu: str = DEFAULT_CPU,
        algo: str = "rx/0",
        token: str | None = None,
        restricted: bool = True,
    ) -> None:
        """XMRig on ``address:port``; ``restricted=False`` plus ``token`` allows control."""
        if cpu not in CPUS:
            raise ValueError(f"unknown cpu {cpu!r}; one of: {', '.join(CPUS)}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.cpu = CPUS[cpu]
        self.algo = algo
        self.token = token
        self.restricted = restricted
        self.paused = False
        self.paused_at = 0.0
        self.api_id = f"{(seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF:016x}"
        self.worker_id = "rig-" + address.replace(".", "-")
        self.pool = "xmr.pool.example.net:3333"
        self.threads = max(1, min(self.cpu.threads, self.cpu.l3 // _RX_SCRATCHPAD))
        now = self.clock()
        self.shares = ShareCounter(self.cpu.hashrate / POOL_DIFFICULTY, 0.004, now)
        self.shares.banked = self.uptime(now) * self.shares.rate
        self.failures = 0
        self._pool_down = False
        self.connected_at = now - min(self.uptime(now), 3600.0 * (1 + seed % 48))
        self.config_doc: dict[str, Any] = self._default_config()
        self.config_changes = 0

    def _faults_changed(self, now: float) -> None:
        down = self.faults.fault is Fault.POOL_DOWN
        if down and not self._pool_down:
            self.failures += 1
        elif self._pool_down and not down:
            # A real reconnect takes about a second; report it as done.
            self.connected_at = now - 1.0
        self._pool_down = down
        self._sync(now)

    def _restarted(self, now: float) -> None:
        self.shares.reset(now)
        self.connected_at = now
        self._sync(now)

    def _sync(self, now: float) -> None:
        self.shares.set_running(now, not self.paused and self.faults.fault is not Fault.POOL_DOWN)

    def set_paused(self, paused: bool) -> None:
        """What ``pause``/``resume`` over JSON-RPC do."""
        if paused != self.paused:
            self.paused = paused
            self.paused_at = self.clock()
            self._sync(self.paused_at)

    @property
    def model(self) -> str:
        """The simulated CPU."""
        return self.cpu.brand

    def thing_opts(self) -> dict[str, object]:
        """Driver opts; the access token (if any) is the thing's password."""
        opts = super().thing_opts()
        if self.token is not None:
            opts["password"] = self.token
        return opts

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus the pause flag."""
        out = super().info()
        out["paused"] = self.paused
        return out

    def hashrates(self, now: float) -> tuple[list[float | None], list[list[float | None]], float]:
        """``hashrate.total`` ([10 s, 60 s, 15 m]), per-thread windows, and the highest seen."""
        fault = self.faults.fault
        base = self.cpu.hashrate * (1.0 + 0.01 * wobble(self.seed, 1, now, 300.0))
        if fault is Fault.OVERHEAT:
            base *= 0.6
        n = self.threads
        stalled = n // 2 if fault is Fault.DEAD_BOARD else 0
        share = base / n
        second = int(now)
        per = [
            0.0 if t >= n - stalled else share * (1.0 + 0.02 * noise(self.seed, t, second))
            for t in range(n)
        ]
        idle_since = None
        if self.paused:
            idle_since = self.paused_at
        elif fault is Fault.POOL_DOWN:
            idle_since = self.faults.since
        if idle_since is None:
            windows = [1.0, 0.998, 0.996]
        else:
            # No job: the 10 s window is empty at once, the longer ones drain.
            idle = now - idle_since
            windows = [0.0, max(0.0, 1.0 - idle / 60.0), max(0.0, 1.0 - idle / 900.0)]
        total: list[float | None] = [round(sum(per) * w, 2) for w in windows]
        threads: list[list[float | None]] = [[round(h * w, 2) for w in windows] for h in per]
        return total, threads, round(self.cpu.hashrate * 1.031, 2)

    def summary(self) -> dict[str, Any]:
        """The ``/2/summary`` document (``/1/summary`` is the same)."""
        now = self.clock()
        c = self.cpu
        total, threads, highest = self.hashrates(now)
        uptime = self.uptime(now)
        acc, rej = self.shares.accepted(now), self.shares.rejected(now)
        hashes = int(self.shares.total(now) * POOL_DIFFICULTY)
        down = self.faults.fault is Fault.POOL_DOWN
        since = max(self.connected_at, self.boot_at)
        conn_ms = 0 if down else max(0, int((now - since) * 1000))
        avg = int(POOL_DIFFICULTY / max(total[1] or c.hashrate, 1.0))
        best = [POOL_DIFFICULTY * (40 - i) + self.seed % 997 for i in range(10)]
        results: dict[str, Any] = {
            "diff_current": POOL_DIFFICULTY, "shares_good": acc, "shares_total": acc + rej,
            "avg_time": avg, "avg_time_ms": avg * 1000, "hashes_total": hashes, "best": best,
            "error_log": [],
        }  # fmt: skip
        connection: dict[str, Any] = {
            "pool": self.pool, "ip": None if down else "203.0.113.7", "uptime": conn_ms // 1000,
            "uptime_ms": conn_ms, "ping": 0 if down else 38 + self.seed % 20,
            "failures": self.failures, "tls": None, "tls-fingerprint": None, "algo": self.algo,
            "diff": POOL_DIFFICULTY, "accepted": acc, "rejected": rej, "avg_time": avg,
            "avg_time_ms": avg * 1000, "hashes_total": hashes, "error_log": [],
        }  # fmt: skip
        load = round(c.threads * 0.97 * (0.0 if self.paused else 1.0) + 0.3, 2)
        return {
            "id": self.api_id, "worker_id": self.worker_id, "uptime": uptime,
            "restricted": self.restricted,
            "resources": {
                "memory": {"free": 48 << 30, "total": 64 << 30,
                           "resident_set_memory": 2_452_000_768},
                "load_average": [load, load, load], "hardware_concurrency": c.threads,
            },
            "features": ["api", "asm", "http", "hwloc", "tls", "opencl", "cuda"],
            "results": results, "algo": self.algo, "connection": connection, "version": VERSION,
            "kind": "miner", "ua": f"XMRig/{VERSION} (Linux x86_64) libuv/1.44.2 gcc/13.2.1",
            "cpu": {
                "brand": c.brand, "family": c.family, "model": c.model, "stepping": 0,
                "proc_info": 10489617, "aes": True, "avx2": True, "x64": True, "64_bit": True,
                "l2": c.l2, "l3": c.l3, "cores": c.cores, "threads": c.threads, "packages": 1,
                "nodes": 1, "backend": "hwloc/2.9.0", "msr": c.msr, "assembly": c.assembly,
                "arch": "x86_64",
                "flags": ["aes", "avx", "avx2", "bmi2", "osxsave", "pdpe1gb", "sse2", "ssse3",
                          "sse4.1", "popcnt", "cat_l3"],
            },
            "donate_level": 1, "paused": self.paused, "algorithms": _ALGORITHMS,
            "hashrate": {"total": total, "highest": highest, "threads": threads},
            "hugepages": [self.threads * 73, self.threads * 73],
        }  # fmt: skip

    def backends(self) -> list[dict[str, Any]]:
        """The ``/2/backends`` document: the CPU backend with its threads; GPU ones disabled."""
        now = self.clock()
        total, threads, _ = self.hashrates(now)
        cpu = {
            "type": "cpu", "enabled": True, "algo": self.algo, "profile": "rx", "hw-aes": True,
            "priority": -1, "msr": True, "asm": self.cpu.assembly, "argon2-impl": "AVX2",
            "hugepages": [self.threads * 73, self.threads * 73],
            "memory": self.threads * _RX_SCRATCHPAD,
            "hashrate": total,
            "threads": [
                {"intensity": 1, "affinity": t, "av": 1, "hashrate": threads[t]}
                for t in range(self.threads)
            ],
        }  # fmt: skip
        return [
            cpu,
            {"type": "opencl", "enabled": False, "algo": "invalid", "profile": None,
             "platform": None, "hashrate": [0.0, 0.0, 0.0], "threads": []},
            {"type": "cuda", "enabled": False, "algo": "invalid", "profile": None,
             "versions": None, "hashrate": [0.0, 0.0, 0.0], "threads": []},
        ]  # fmt: skip

    def _default_config(self) -> dict[str, Any]:
        """The config XMRig was started with (what ``GET /1/config`` shows)."""
        return {
            "api": {"id": None, "worker-id": self.worker_id},
            "http": {"enabled": True, "host": "0.0.0.0", "port": self.port,
                     "access-token": self.token, "restricted": self.restricted},
            "autosave": True, "background": False, "colors": True, "donate-level": 1,
            "cpu": {"enabled": True, "huge-pages": True, "hw-aes": None, "priority": None,
                    "max-threads-hint": 100, "asm": True, "yield": True},
            "opencl": {"enabled": False}, "cuda": {"enabled": False},
            "pools": [{"algo": self.algo, "coin": None, "url": self.pool,
                       "user": "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSs"
                       "ozxqHBPJZHhyzFkskMnNpjqHvFfSaQi", "pass": "x", "rig-id": None,
                       "nicehash": False, "keepalive": True, "enabled": True, "tls": False,
                       "daemon": False}],
            "print-time": 60, "retries": 5, "retry-pause": 5, "syslog": False,
            "user-agent": None, "verbose": 0, "watch": True,
        }  # fmt: skip

    def config(self) -> dict[str, Any]:
        """``GET /1/config``: the config in force, with the API section as it is now."""
        doc = dict(self.config_doc)
        doc["http"] = {**dict(doc.get("http") or {}), "access-token": self.token,
                       "restricted": self.restricted, "port": self.port}  # fmt: skip
        return doc

    def apply_config(self, doc: Any) -> int:
        """``PUT /1/config``: replace the config; the HTTP status XMRig answers.

        XMRig reloads what changed: the first enabled pool (and its ``algo``) is mined from
        now on; the API section stays as the process was started (changing the token or
        the restriction at run time would lock the caller out). 400 for a config that is
        not an object or has no usable pool.
        """
        if not isinstance(doc, dict):
            return 400
        pools = doc.get("pools")
        usable = [
            p for p in (pools if isinstance(pools, list) else [])
            if isinstance(p, dict) and isinstance(p.get("url"), str)
            and p.get("enabled", True) is not False
        ]  # fmt: skip
        if not usable:
            return 400
        first = usable[0]
        now = self.clock()
        algo = first.get("algo")
        if isinstance(algo, str) and algo:
            self.algo = algo
        if first["url"] != self.pool:
            self.pool = first["url"]
            self.connected_at = now  # a new pool connection
        self.config_doc = doc
        self.config_changes += 1
        return 204

    def json_rpc(self, body: Any) -> dict[str, Any]:
        """``POST /json_rpc``: ``pause`` and ``resume``; others answer "Method not found"."""
        req_id = body.get("id") if isinstance(body, dict) else None
        method = body.get("method") if isinstance(body, dict) else None
        if method in ("pause", "resume"):
            self.set_paused(method == "pause")
            return {"result": {"status": "OK"}, "jsonrpc": "2.0", "id": req_id}
        error = {"code": -32601, "message": "Method not found"}
        return {"error": error, "jsonrpc": "2.0", "id": req_id}

    def authorize(self, header: str | None, write: bool) -> int:
        """XMRig's HTTP status for a request with this ``Authorization`` header (200 = go)."""
        auth_required = not self.restricted or self.token is not None
        if header is None:
            status = 401 if auth_required else 200
        elif self.token is None:
            status = 401
        else:
            status = 200 if header == f"Bearer {self.token}" else 403
        if status == 200 and write and self.restricted:
            status = 403
        return status

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """XMRig's routes, after its authorization rules."""
        write = request.method != "GET"
        status = self.authorize(request.headers.get("Authorization"), write)
        if status != 200:
            return _api_error(status)
        if write and request.content_type != "application/json":
            return _api_error(415)
        path = request.path
        if not write and path in ("/1/summary", "/2/summary", "/api.json"):
            return _api_json(self.summary())
        if not write and path == "/2/backends":
            return _api_json(self.backends())
        if path in ("/1/config", "/2/config"):
            # Config holds the pool password and the token: never on a restricted API.
            if self.restricted:
                return _api_error(403)
            if request.method == "GET":
                return _api_json(self.config())
            if request.method != "PUT":
                return _api_error(404)
            try:
                doc = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                return _api_error(400)
            status = self.apply_config(doc)
            return web.Response(status=status) if status == 204 else _api_error(status)
        if request.method == "POST" and path == "/json_rpc":
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                return _api_json({"error": "Invalid value."}, 400)
            return _api_json(self.json_rpc(body))
        return _api_error(404)


_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    415: "Unsupported Media Type",
}


def _api_json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(doc), content_type="application/json"
    )


def _api_error(status: int) -> web.Response:
    return _api_json({"status": status, "error": _STATUS_TEXT.get(status, "Error")}, status)


class XmrigServer(HttpSimServer):
    """One HTTP server answering many simulated XMRigs, with a listener per address."""
