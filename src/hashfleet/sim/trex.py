"""A simulated T-Rex (NVIDIA-only GPU miner): its HTTP API on port 4067.

Routes: ``GET /summary`` (totals, ``active_pool``, ``gpus[]`` with sensors, clocks and
``shares``; ``dual_stat`` when dual mining), ``POST /control`` (``{"pause": "true"}`` /
``"false"``), ``GET /config`` and ``POST /config`` (``pools`` and other keys of the config
file), and ``GET /login?password=…`` giving a ``sid`` when the API has a password; every
other request then needs ``?sid=…`` (HTTP 403 without). Version 0.19 has no dual mining,
no memory temperature and no clocks. When the pool is lost T-Rex idles the cards and
counts connection ``retries``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from aiohttp import web

from hashfleet.sim.base import Clock
from hashfleet.sim.faults import Fault
from hashfleet.sim.gpu import AUTOLYKOS2, ETCHASH, KAWPOW, GpuMinerSim, GpuSample
from hashfleet.sim.http import HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

API_PORT = 4067
VERSIONS = ("0.26.8", "0.19.14")
OLD = ("0.19.14",)
BUILD = {"0.26.8": ("Oct 10 2022 14:29:58", "2ef5dd8e0f4d", "4.2"),
         "0.19.14": ("Mar 20 2021 10:36:55", "9f6e7a2a8c0e", "3.6")}  # fmt: skip


class TrexSim(GpuMinerSim):
    """One simulated T-Rex process and its NVIDIA rig."""

    family = "trex"
    software = "T-Rex"
    vendor = "nvidia"

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
        password: str | None = None,
    ) -> None:
        """T-Rex ``version`` on ``address:port``; ``password`` protects the API."""
        if version not in VERSIONS:
            raise ValueError(f"unknown T-Rex version {version!r}; one of: {VERSIONS}")
        if version in OLD and len(algos) > 1:
            raise ValueError("T-Rex 0.19 does not dual mine")
        super().__init__(address, port, seed=seed, clock=clock, version=version, cards=cards,
                         algos=algos)  # fmt: skip
        self.password = password
        self.sids: set[str] = set()
        self.pool_user = self.user
        self.pool_pass = "x"
        self.extra: dict[str, Any] = {"intensity": 22, "pl": 0, "temperature-limit": 0}

    def thing_opts(self) -> dict[str, object]:
        """Driver opts; the API password (if any) is the thing's password."""
        opts = super().thing_opts()
        if self.password is not None:
            opts["password"] = self.password
        return opts

    def _gpu(self, g: GpuSample, a: int, now: float) -> dict[str, Any]:
        rate = int(g.hashrates[a] or 0)
        shares = {"accepted_count": g.accepted[a], "invalid_count": 0,
                  "last_share_diff": 4.0, "last_share_submit_ts": int(now) - 17,
                  "max_share_diff": 512.7, "max_share_submit_ts": int(self.boot_at) + 3600,
                  "rejected_count": g.rejected[a], "solved_count": 0}  # fmt: skip
        return {"device_id": g.index, "gpu_id": g.index, "gpu_user_id": g.index,
                "hashrate": rate, "hashrate_day": rate, "hashrate_hour": rate,
                "hashrate_instant": rate, "hashrate_minute": rate, "shares": shares}  # fmt: skip

    def _pool(self, url: str, user: str) -> dict[str, Any]:
        down = self.fault is Fault.POOL_DOWN
        return {"difficulty": "4.00 G", "last_submit_ts": int(self.clock()) - 17,
                "ping": 0 if down else 42, "proxy": "", "retries": self.pool_failures * 3
                if down else 0, "url": url, "user": user, "worker": self.worker}  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """The ``/summary`` document."""
        now = self.clock()
        old = self.version in OLD
        gpus = self.sample()
        rows = []
        for g in gpus:
            row = self._gpu(g, 0, now)
            rate = row["hashrate"]
            row.update(
                dag_build_mode=0, efficiency=f"{int(rate / max(g.power_w, 1.0) / 1000)}kH/W",
                fan_speed=int(g.fan_pct), intensity=22, lhr_tune=0, low_load=False,
                name=g.preset.key, paused=self.paused, pci_bus=g.pci_bus, pci_domain=0,
                pci_id=0, potentially_unstable=False, power=int(g.power_w),
                power_avr=int(g.power_w), temperature=int(g.temp_c),
                uuid=f"{self.seed:08x}-{g.index:04x}", vendor="Gigabyte",
            )  # fmt: skip
            if not old:
                row.update(cclock=int(g.core_mhz), mclock=int(g.mem_mhz),
                           memory_temperature=int(g.mem_temp_c))  # fmt: skip
            rows.append(row)
        total = sum(r["hashrate"] for r in rows)
        build, revision, api = BUILD[self.version]
        doc: dict[str, Any] = {
            "accepted_count": sum(g.accepted[0] for g in gpus),
            "active_pool": self._pool(self.pools[0], self.pool_user),
            "algorithm": self.rig.algos[0], "api": api, "build_date": build, "coin": "",
            "description": "T-Rex NVIDIA GPU miner", "driver": "525.125.06",
            "gpu_total": len(gpus), "gpus": rows, "hashrate": total, "hashrate_day": total,
            "hashrate_hour": total, "hashrate_minute": total, "invalid_count": 0,
            "name": "t-rex", "os": "linux", "paused": self.paused,
            "rejected_count": sum(g.rejected[0] for g in gpus), "revision": revision,
            "sharerate": 1.52, "sharerate_average": 1.49, "solved_count": 0, "success": 1,
            "time": int(now), "uptime": self.uptime(now), "validate_shares": False,
            "version": self.version,
            "watchdog_stat": {"built_in": True, "startup_ts": int(self.boot_at),
                              "total_restarts": self.reboots, "uptime": self.uptime(now),
                              "wd_version": self.version},
        }  # fmt: skip
        if self.rig.dual:
            dual = [self._gpu(g, 1, now) for g in gpus]
            rate = sum(d["hashrate"] for d in dual)
            doc["dual_stat"] = {
                "accepted_count": sum(g.accepted[1] for g in gpus),
                "active_pool": self._pool(self.pool2, self.pool_user),
                "algorithm": self.rig.algos[1], "gpus": dual, "hashrate": rate,
                "hashrate_day": rate, "hashrate_hour": rate, "hashrate_minute": rate,
                "invalid_count": 0, "rejected_count": sum(g.rejected[1] for g in gpus),
                "solved_count": 0,
            }  # fmt: skip
        return doc

    def config(self) -> dict[str, Any]:
        """The ``/config`` document (T-Rex's config file)."""
        pools = [{"url": url, "user": self.pool_user, "pass": self.pool_pass,
                  "worker": self.worker} for url in self.pools]  # fmt: skip
        return {"algo": self.rig.algos[0], "api-bind-http": f"0.0.0.0:{self.port}",
                "pools": pools, **self.extra}  # fmt: skip

    def apply_config(self, doc: Any) -> dict[str, Any]:
        """``POST /config``: ``pools`` replaces the pools; other known-shaped keys are kept."""
        if not isinstance(doc, dict) or not doc:
            return {"success": 0, "error": "Invalid config"}
        pools = doc.get("pools")
        if pools is not None:
            ok = (
                isinstance(pools, list)
                and pools
                and all(isinstance(p, dict) and isinstance(p.get("url"), str) for p in pools)
            )
            if not ok:
                return {"success": 0, "error": "Invalid pools"}
            first = pools[0]
            self.set_pools([p["url"] for p in pools], str(first.get("user") or self.pool_user))
            self.pool_user = self.user
            self.pool_pass = str(first.get("pass") or "x")
        for key, value in doc.items():
            if key != "pools" and isinstance(value, str | int | float | bool):
                self.extra[key] = value
        return {"success": 1}

    def control(self, doc: Any) -> dict[str, Any]:
        """``POST /control``: ``pause`` "true"/"false" (for all cards)."""
        pause = doc.get("pause") if isinstance(doc, dict) else None
        if pause not in ("true", "false"):
            return {"success": 0, "error": "Unknown command"}
        self.set_paused(pause == "true")
        return {"success": 1}

    def login(self, password: str | None) -> dict[str, Any]:
        """``GET /login?password=…`` → a session id."""
        if self.password is None or password != self.password:
            return {"success": 0, "error": "Invalid password"}
        sid = hashlib.sha256(f"{self.seed}:{len(self.sids)}:{self.clock()}".encode()).hexdigest()
        self.sids.add(sid[:32])
        return {"success": 1, "sid": sid[:32]}

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """T-Rex's routes, behind its session check when a password is set."""
        path, method = request.path, request.method
        if path == "/login" and method == "GET":
            return json_response(self.login(request.query.get("password")))
        if self.password is not None and request.query.get("sid") not in self.sids:
            return json_response({"success": 0, "error": "Unauthorized: invalid sid"}, 403)
        if method == "GET" and path == "/summary":
            return json_response(self.summary())
        if method == "GET" and path == "/config":
            return json_response(self.config())
        if method == "POST" and path in ("/control", "/config"):
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                return json_response({"success": 0, "error": "Invalid JSON"}, 400)
            reply = self.control(body) if path == "/control" else self.apply_config(body)
            return json_response(reply)
        return json_response({"success": 0, "error": "Not found"}, 404)


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> TrexSim:
    """A farm's T-Rex: ``model`` is the version; every third 0.26 one dual mines."""
    version = model or VERSIONS[seed % len(VERSIONS)]
    dual = version not in OLD and seed % 3 == 2
    algos = (ETCHASH, AUTOLYKOS2) if dual else ((KAWPOW,) if seed % 2 else (ETCHASH,))
    return TrexSim(address, seed=seed, clock=clock, version=version, algos=algos)


FAMILY = SimFamily(family="trex", models=VERSIONS, create=create, host=HttpSimServer)
