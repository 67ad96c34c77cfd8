"""A simulated mining pool's account statistics API, in two real flavours.

``ocean``: OCEAN's public observer API (``GET /v1/statsnap/{address}``,
``/v1/user_hashrate/{address}``, ``/v1/earnpay/{address}``), every reply wrapped in
``{"result": ...}``, hashrates as decimal strings in H/s and amounts as BTC strings. OCEAN's
API is public: no key. ``braiins``: Braiins Pool's account API (``GET
/accounts/profile/json/btc/`` and ``/accounts/workers/json/btc/``) that needs the account's
access token in the ``Pool-Auth-Token`` header (older clients send ``SessionId``); hashrates
are numbers in ``hash_rate_unit`` (``Gh/s``), amounts BTC strings. A wrong token gets 401.

The shapes follow the pools' published field lists as far as we know them; fields we could
not confirm (OCEAN's ``earnpay`` entries) are modelled on the documented names.

Faults: ``pool_down`` is what a pool in maintenance shows on its API: ``503`` with a
maintenance body (the driver raises ``DeviceCommandFailed``). ``overheat`` and
``dead_board`` mean nothing to a pool and are ignored; ``workers_down`` takes single
workers offline. Transport faults come from :class:`HttpSimServer`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hashfleet.sim.base import Clock, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.http import HttpSimDevice, HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

API_PORT = 80
APIS = ("ocean", "braiins")
GH = 1e9


@dataclass(frozen=True, slots=True)
class AccountPreset:
    """How big the simulated account is."""

    workers: int
    hashrate: float  # H/s the pool credits the account with


PRESETS = {
    "ocean": AccountPreset(workers=6, hashrate=6 * 200e12),
    "braiins": AccountPreset(workers=12, hashrate=12 * 110e12),
}
BTC_PER_EH_DAY = 0.45  # rough reward per EH/s per day, to make earnings move with hashrate


class PoolAccountSim(HttpSimDevice):
    """One pool account as the pool's stats API shows it."""

    family = "pool_account"

    def __init__(
        self,
        address: str,
        *,
        port: int = API_PORT,
        seed: int = 0,
        clock: Clock = time.time,
        api: str = "ocean",
        account: str | None = None,
        api_key: str | None = None,
    ) -> None:
        """An account on ``address:port`` speaking ``api``; ``api_key`` guards braiins."""
        if api not in APIS:
            raise ValueError(f"unknown pool api {api!r}; one of: {', '.join(APIS)}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.api = api
        self.preset = PRESETS[api]
        self.account = account or (
            f"bc1qsim{seed:06d}fleet" if api == "ocean" else f"fleet{seed % 1000}"
        )
        self.api_key = api_key if api_key is not None else f"tok-{seed:08x}"
        self.workers_down: set[int] = set()
        self.created_at = self.boot_at - 90 * 86400.0

    @property
    def model(self) -> str:
        """The API flavour."""
        return self.api

    def thing_opts(self) -> dict[str, object]:
        """Driver opts: account, api flavour and key in ``params``."""
        opts = super().thing_opts()
        opts["params"] = {"account": self.account, "api": self.api, "api_key": self.api_key}
        return opts

    # -- values ------------------------------------------------------------------------

    def worker_states(self) -> list[bool]:
        """Online flag per worker."""
        return [i not in self.workers_down for i in range(self.preset.workers)]

    def hashrate(self, window: float) -> float:
        """Account hashrate averaged over ``window`` seconds (longer: smoother)."""
        now = self.clock()
        online = sum(self.worker_states()) / self.preset.workers
        amp = 0.08 if window < 600 else 0.02
        return self.preset.hashrate * online * (1.0 + amp * wobble(self.seed, int(window), now))

    def earned(self) -> tuple[float, float, float]:
        """(last 24 h, all time, unpaid balance) in BTC."""
        now = self.clock()
        per_day = self.preset.hashrate / 1e18 * BTC_PER_EH_DAY
        total = per_day * (now - self.created_at) / 86400.0
        balance = per_day * ((now - self.created_at) % (7 * 86400.0)) / 86400.0
        return per_day * (1.0 + 0.05 * wobble(self.seed, 7, now, 3600.0)), total, balance

    # -- HTTP --------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Route to the flavour's API."""
        if request.method != "GET":
            return json_response({"error": "method not allowed"}, 405)
        if self.fault is Fault.POOL_DOWN:
            return json_response(
                {"error": "maintenance", "message": "Pool is under maintenance"}, 503
            )
        if self.api == "ocean":
            return self._ocean(request.path)
        return self._braiins(request)

    def _ocean(self, path: str) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "v1":
            return json_response({"error": "not found"}, 404)
        _, kind, address = parts
        if address != self.account:
            return json_response({"error": "user not found"}, 404)
        now = self.clock()
        day, total, unpaid = self.earned()
        if kind == "statsnap":
            return json_response({"result": {
                "user": address, "timestamp": int(now),
                "hashrate_60s": f"{self.hashrate(60):.0f}",
                "hashrate_300s": f"{self.hashrate(300):.0f}",
                "shares_60s": f"{self.hashrate(60) * 60 / 2**32 / 8192:.0f}",
                "shares_300s": f"{self.hashrate(300) * 300 / 2**32 / 8192:.0f}",
                "unpaid": f"{unpaid:.8f}", "lifetime_earn": f"{total:.8f}",
                "estimated_earn_next_block": f"{day / 6:.8f}",
                "estimated_bonus_earn_next_block": "0.00000000",
                "estimated_total_earn_next_block": f"{day / 6:.8f}",
                "estimated_payout_next_block": f"{unpaid + day / 6:.8f}",
            }})  # fmt: skip
        if kind == "user_hashrate":
            doc: dict[str, Any] = {
                f"hashrate_{w}s": f"{self.hashrate(w):.0f}" for w in (60, 300, 600, 1800, 3600)
            }
            doc["hashrate_10800s"] = f"{self.hashrate(10800):.0f}"
            doc["hashrate_86400"] = f"{self.hashrate(86400):.0f}"
            doc["active_worker_count"] = sum(self.worker_states())
            doc["workers"] = {
                f"worker{i:02d}": {"hashrate_300s": f"{self.hashrate(300) if ok else 0:.0f}"}
                for i, ok in enumerate(self.worker_states())
            }
            return json_response({"result": doc})
        if kind == "earnpay":
            blocks = [
                {"block_hash": f"{(self.seed * 7919 + i) & 0xFFFFFFFF:064x}",
                 "ts": int(now - i * 4 * 3600), "satoshis_net_earned": int(day / 6 * 1e8),
                 "fees_collected_satoshis": int(day / 6 * 1e8 * 0.02)}
                for i in range(6)
            ]  # fmt: skip
            return json_response({"result": {"earnings": blocks, "payouts": []}})
        return json_response({"error": "not found"}, 404)

    def _braiins(self, request: web.BaseRequest) -> web.StreamResponse:
        token = request.headers.get("Pool-Auth-Token") or request.headers.get("SessionId")
        if token is None:
            return json_response({"detail": "Authentication credentials were not provided."}, 401)
        if token != self.api_key:
            return json_response({"detail": "Invalid token."}, 401)
        states = self.worker_states()
        path = request.path.rstrip("/") + "/"
        if path == "/accounts/profile/json/btc/":
            day, total, balance = self.earned()
            return json_response({"username": self.account, "btc": {
                "all_time_reward": f"{total:.8f}", "hash_rate_unit": "Gh/s",
                "hash_rate_5m": round(self.hashrate(300) / GH, 3),
                "hash_rate_60m": round(self.hashrate(3600) / GH, 3),
                "hash_rate_24h": round(self.hashrate(86400) / GH, 3),
                "hash_rate_yesterday": round(self.hashrate(86401) / GH, 3),
                "low_workers": 0, "off_workers": states.count(False),
                "ok_workers": states.count(True), "dis_workers": 0,
                "current_balance": f"{balance:.8f}", "today_reward": f"{day * 0.6:.8f}",
                "estimated_reward": f"{day:.8f}", "shares_5m": 4096, "shares_60m": 49152,
                "shares_24h": 1179648, "shares_yesterday": 1179000,
            }})  # fmt: skip
        if path == "/accounts/workers/json/btc/":
            now = int(self.clock())
            per = self.preset.hashrate / self.preset.workers / GH
            workers = {
                f"{self.account}.worker{i:02d}": {
                    "state": "ok" if ok else "off",
                    "last_share": now - (5 if ok else 7200), "hash_rate_unit": "Gh/s",
                    "hash_rate_scoring": round(per if ok else 0.0, 3),
                    "hash_rate_5m": round(per if ok else 0.0, 3),
                    "hash_rate_60m": round(per if ok else 0.0, 3),
                    "hash_rate_24h": round(per, 3),
                    "shares_5m": 340 if ok else 0, "shares_60m": 4096 if ok else 0,
                    "shares_24h": 98304, "shares_yesterday": 98000,
                }
                for i, ok in enumerate(states)
            }  # fmt: skip
            return json_response({"btc": {"workers": workers}})
        return json_response({"detail": "Not found."}, 404)


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> PoolAccountSim:
    """Farm factory: ``model`` is the API flavour."""
    return PoolAccountSim(address, seed=seed, clock=clock, api=model or "ocean")


FAMILY = SimFamily(family="pool_account", models=APIS, create=create, host=HttpSimServer)
