"""A simulated IceRiver Kaspa miner (KS0, KS3M, KS5L): the web user panel on HTTP port 80.

The panel is a session-cookie web app. ``POST /user/loginpost?post=6&user=…&pwd=…`` (query
or form) opens a session; ``POST /user/userpanel?post=4`` answers the whole state as JSON
(``{"code": 0, "data": {rtpow, unit, runtime "d:h:m:s", fans, boards[], pools[], …}}``);
``post=5&locate=0|1`` switches the locate light. Without a live session the panel
redirects to its login page (HTML), as a browser would see it; sessions expire after
``session_ttl`` seconds and on every reboot. ``GET /`` is the login page pyasic recognises
(its title is 用户界面, "user interface").

Controls beyond pyasic's read and locate: ``POST /user/pools?post=1`` with form fields
``pool1``/``user1``/``pass1`` … ``pool3`` replaces the three pool slots and
``POST /user/reboot?post=1`` reboots.

Faults: ``overheat`` drives chip (outlet) temperatures above 95 °C; ``dead_board`` shows
one board with no chips, ``state`` false and 0 hashrate; ``pool_down`` marks the pools
disconnected (``state`` 0), freezes share counters and, with no jobs, the hashrate is 0.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hashfleet.sim.base import Clock, ShareCounter, noise, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.http import HttpSimDevice, HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

WEB_PORT = 80
POOL_SLOTS = 3
POOL_DIFFICULTY = 4096.0  # a share is POOL_DIFFICULTY * 2**32 hashes
MAX_SESSIONS = 32
COOKIE = "session"
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><TITLE>用户界面</TITLE></head>"
    "<body><form action='/user/loginpost' method='post'><input name='user'>"
    "<input name='pwd' type='password'></form></body></html>"
)


@dataclass(frozen=True, slots=True)
class Preset:
    """Nameplate figures and firmware identity of one model."""

    model: str  # "KS3M"
    hashrate_ghs: float
    boards: int
    chips: int  # per board
    fans: int
    fan_rpm: int
    freq: int
    softver1: str
    softver2: str
    firmver1: str
    unit: str  # unit of the top-level rtpow/avgpow: "G", or "T" on newer firmware


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("KS0", 100.0, 1, 2, 1, 3600, 650, "ks0_miner", "0.0.42", "BOOT_1_0_1", "G"),
        Preset("KS3M", 6000.0, 3, 18, 4, 4560, 650, "ks3m_miner", "1.1.20", "BOOT_1_0_3",
               "G"),
        Preset("KS5L", 12000.0, 3, 18, 4, 4800, 800, "20240315_ks5lminer", "1.3.4",
               "BOOT_1_1_0", "T"),
    )
}  # fmt: skip
DEFAULT_MODEL = "KS3M"


@dataclass(slots=True)
class SimPool:
    """One of the three pool slots."""

    url: str
    user: str
    password: str
    counter: ShareCounter


class IceRiverSim(HttpSimDevice):
    """One simulated IceRiver: web sessions, drifting values, locate, pools, reboot."""

    family = "iceriver"

    def __init__(
        self,
        address: str,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        port: int = WEB_PORT,
        clock: Clock = time.time,
        password: str = "12345678",
        session_ttl: float = 900.0,
        reboot_downtime: float = 0.0,
    ) -> None:
        """An IceRiver of ``model`` (a key of :data:`PRESETS`), web login admin/``password``."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.preset = PRESETS[model]
        self.user = "admin"
        self.password = password
        self.session_ttl = session_ttl
        self.reboot_downtime = reboot_downtime
        self.sessions: dict[str, float] = {}  # token → expiry on the sim clock
        self.logins = 0
        self.locate = False
        self.dead_board = seed % self.preset.boards
        octets = [int(x) for x in address.split(".")]
        self.mac = "02-1e-{:02x}-{:02x}-{:02x}-{:02x}".format(*octets)
        self.host = f"{self.preset.model}-{octets[2]:03d}{octets[3]:03d}"
        now = self.clock()
        worker = "kaspa:qz0fleet" + address.replace(".", "x")
        urls = (
            "stratum+tcp://kas.pool.example.net:5555",
            "stratum+tcp://kas-backup.pool.example.net:5555",
            "stratum+tcp://kas-eu.pool.example.net:443",
        )
        self.pools = [SimPool(u, f"{worker}.w{i}", "x", self._counter(now))
                      for i, u in enumerate(urls)]  # fmt: skip
        self.pools[0].counter.banked = self.uptime(now) * self.pools[0].counter.rate
        self._sync(now)

    # -- state ---------------------------------------------------------------------------

    def _counter(self, now: float) -> ShareCounter:
        rate = self.preset.hashrate_ghs * 1e9 / (POOL_DIFFICULTY * 2**32)
        return ShareCounter(rate, 0.002, now)

    @property
    def model(self) -> str:
        """The preset's model name."""
        return self.preset.model

    def thing_opts(self) -> dict[str, object]:
        """Driver opts with the web login."""
        opts = super().thing_opts()
        opts["username"], opts["password"] = self.user, self.password
        return opts

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus locate, pools and open sessions."""
        out = super().info()
        out.update(locate=self.locate, pools=[p.url for p in self.pools],
                   sessions=len(self.sessions), logins=self.logins)  # fmt: skip
        return out

    def active_pool(self) -> SimPool | None:
        """The first slot with a URL."""
        return next((p for p in self.pools if p.url), None)

    def _sync(self, now: float) -> None:
        active = self.active_pool()
        up = self.faults.fault is not Fault.POOL_DOWN
        for pool in self.pools:
            pool.counter.set_running(now, up and pool is active)

    def _faults_changed(self, now: float) -> None:
        self._sync(now)

    def _restarted(self, now: float) -> None:
        self.sessions.clear()  # a reboot logs everybody out
        for pool in self.pools:
            pool.counter.reset(now)
        self._sync(now)

    def expire_sessions(self) -> None:
        """End every session now (tests: the next request must log in again)."""
        self.sessions.clear()

    # -- the panel -----------------------------------------------------------------------

    def userpanel(self) -> dict[str, Any]:
        """The ``post=4`` document."""
        now = self.clock()
        p, seed, fault = self.preset, self.seed, self.faults.fault
        hot = fault is Fault.OVERHEAT
        idle = fault is Fault.POOL_DOWN
        ideal = p.hashrate_ghs / p.boards
        boards = []
        total = 0.0
        for b in range(p.boards):
            dead = fault is Fault.DEAD_BOARD and b == self.dead_board
            rate = 0.0 if dead or idle else ideal * (1.0 + 0.02 * wobble(seed, 20 + b, now, 240.0))
            rate *= 0.96 if hot else 1.0
            total += rate
            inlet = 38.0 + 2 * b + 2.5 * wobble(seed, 10 + b, now, 420.0) + (40.0 if hot else 0)
            outlet = inlet + 22.0 + 2 * noise(seed, 60 + b, int(now // 10))
            boards.append(
                {"no": b + 1, "chipnum": 0 if dead else p.chips, "chipsuc": 0 if dead else p.chips,
                 "error": 1 if dead else 0, "freq": 0 if dead else p.freq,
                 "rtpow": f"{rate:.2f}G", "avgpow": f"{rate * 0.998:.2f}G",
                 "idealpow": f"{ideal:.2f}G", "tempnum": 2,
                 "pcbtemp": "0/0" if dead else f"{round(inlet)}/{round(outlet)}",
                 "intmp": 0 if dead else round(inlet), "outtmp": 0 if dead else round(outlet),
                 "state": not dead}
            )  # fmt: skip
        scale, digits = (1000.0, 3) if p.unit == "T" else (1.0, 2)
        rpm = p.fan_rpm + (1500 if hot else 0)
        fans = [int(rpm + 120 * wobble(seed, 30 + f, now, 600.0)) for f in range(p.fans)]
        active = self.active_pool()
        pools = []
        for n, pool in enumerate(self.pools):
            acc, rej = pool.counter.accepted(now), pool.counter.rejected(now)
            current = pool is active and not idle
            pools.append(
                {"no": n + 1, "addr": pool.url, "user": pool.user, "pass": pool.password,
                 "connect": current, "diff": "4096" if current else "", "priority": n + 1,
                 "accepted": acc, "rejected": rej, "diffa": acc * POOL_DIFFICULTY,
                 "diffr": rej * POOL_DIFFICULTY, "state": 0 if idle or not pool.url else 1,
                 "lsdiff": POOL_DIFFICULTY if current else 0,
                 "lstime": "00:00:04" if current else ""}
            )  # fmt: skip
        up = self.uptime(now)
        runtime = f"{up // 86400:02d}:{up // 3600 % 24:02d}:{up // 60 % 60:02d}:{up % 60:02d}"
        octets = self.address.split(".")
        data = {
            "model": p.model, "algo": "kHeavyHash", "online": True, "firmver1": p.firmver1,
            "firmver2": "FPGA_2_0", "softver1": p.softver1, "softver2": p.softver2,
            "firmtype": "Factory", "nic": "eth0", "mac": self.mac, "ip": self.address,
            "netmask": "255.255.255.0", "host": self.host, "dhcp": True,
            "gateway": ".".join([*octets[:3], "1"]), "dns": "1.1.1.1", "locate": self.locate,
            "rtpow": f"{total / scale:.{digits}f}{p.unit}",
            "avgpow": f"{total * 0.998 / scale:.{digits}f}{p.unit}", "reject": 0.18,
            "runtime": runtime, "unit": p.unit, "fans": fans, "powstate": True,
            "pools": pools, "boards": boards, "refTime": int(now),
        }  # fmt: skip
        return {"code": 0, "msg": "", "data": data}

    # -- HTTP ------------------------------------------------------------------------------

    def _session(self, request: web.BaseRequest) -> bool:
        token = request.cookies.get(COOKIE)
        if token is None:
            return False
        expiry = self.sessions.get(token)
        if expiry is None or expiry < self.clock():
            self.sessions.pop(token, None)
            return False
        self.sessions[token] = self.clock() + self.session_ttl  # sliding expiry
        return True

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """The panel's routes."""
        path = request.path
        if request.method == "GET" and path in ("/", "/user/login", "/index.html"):
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        if request.method != "POST":
            return web.Response(status=404, text="<html>404 Not Found</html>",
                                content_type="text/html")  # fmt: skip
        args: dict[str, str] = dict(request.query)
        if request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        if path == "/user/loginpost":
            return self._login(args)
        if not self._session(request):
            # What a browser gets with no (or an expired) session: the login page.
            raise web.HTTPFound("/user/login")
        post = args.get("post")
        if path == "/user/userpanel" and post == "4":
            return json_response(self.userpanel())
        if path == "/user/userpanel" and post == "5":
            self.locate = args.get("locate") == "1"
            return json_response({"code": 0, "msg": "", "data": {"locate": self.locate}})
        if path == "/user/pools" and post == "1":
            return self._set_pools(args)
        if path == "/user/reboot" and post == "1":
            self.restart(self.reboot_downtime)
            return json_response({"code": 0, "msg": "rebooting", "data": {}})
        return json_response({"code": 404, "msg": "unknown request", "data": {}})

    def _login(self, args: dict[str, str]) -> web.StreamResponse:
        if args.get("user") != self.user or args.get("pwd") != self.password:
            return json_response({"code": 1, "msg": "user or password error", "data": {}})
        now = self.clock()
        # Clients that log in for every request (pyasic does) must not pile up sessions.
        live = sorted((exp, tok) for tok, exp in self.sessions.items() if exp >= now)
        self.sessions = {tok: exp for exp, tok in live[-(MAX_SESSIONS - 1) :]}
        token = secrets.token_hex(16)
        self.sessions[token] = now + self.session_ttl
        self.logins += 1
        resp = json_response({"code": 0, "msg": "login success", "data": {}})
        resp.set_cookie(COOKIE, token, path="/", httponly=True)
        return resp

    def _set_pools(self, args: dict[str, str]) -> web.StreamResponse:
        now = self.clock()
        slots = []
        for n in range(1, POOL_SLOTS + 1):
            url = args.get(f"pool{n}", "").strip()
            if url and "://" not in url:
                return json_response({"code": 2, "msg": f"pool{n}: invalid address", "data": {}})
            slots.append(SimPool(url, args.get(f"user{n}", ""), args.get(f"pass{n}", ""),
                                 self._counter(now)))  # fmt: skip
        if not any(s.url for s in slots):
            return json_response({"code": 2, "msg": "at least one pool is needed", "data": {}})
        self.pools = slots
        self._sync(now)
        return json_response({"code": 0, "msg": "pools saved", "data": {}})


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> IceRiverSim:
    """One simulated IceRiver (the registry's factory)."""
    return IceRiverSim(address, model=model or DEFAULT_MODEL, seed=seed, clock=clock)


FAMILY = SimFamily(family="iceriver", models=tuple(PRESETS), create=create, host=HttpSimServer)
