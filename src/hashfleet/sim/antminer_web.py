"""The stock Antminer web UI on port 80 (HTTP Digest, realm "antMiner Configuration").

pyasic reads per-board hashrate, temperatures and chip counts of S19/S21 stock firmware only
from ``/cgi-bin/stats.cgi``, and MAC, hostname and errors from other CGIs, so a simulated
Antminer serves these too. One aiohttp server answers for every simulated miner; each miner
gets its own listener on ``address:80`` and the handler picks the miner by the local
address of the connection. Unknown paths answer HTML, never JSON: pyasic takes any JSON on
``/kaonsu/v1/brief`` as a sign of Marathon firmware.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from hashfleet.sim.base import Listener, wobble
from hashfleet.sim.faults import GARBAGE_BYTES, Fault

if TYPE_CHECKING:
    from hashfleet.sim.antminer import AntminerSim, Live

log = logging.getLogger(__name__)

WEB_PORT = 80
REALM = "antMiner Configuration"
_DIGEST_FIELD = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')
_HTML_INDEX = b"<html><head><title>Miner</title></head><body>Miner status</body></html>"
_HTML_404 = b"<html><body><h1>404 - Not Found</h1></body></html>"
_HTML_401 = b"<html><body><h1>401 - Unauthorized</h1></body></html>"


def _web_status(sim: AntminerSim, msg: str) -> dict[str, Any]:
    return {"STATUS": "S", "when": int(sim.clock()), "Msg": msg, "api_version": "1.0.0"}


def _info(sim: AntminerSim) -> dict[str, Any]:
    p = sim.preset
    return {"miner_version": p.miner, "CompileTime": p.compile_time, "type": p.model}


def system_info(sim: AntminerSim) -> dict[str, Any]:
    """``get_system_info.cgi``: model, MAC, hostname, serial number."""
    return {
        "minertype": sim.preset.model, "nettype": "DHCP", "netdevice": "eth0",
        "macaddr": sim.mac, "hostname": sim.hostname, "ipaddress": sim.address,
        "netmask": "255.0.0.0", "gateway": "", "dnsservers": "", "system_mode": "GNU/Linux",
        "system_kernel_version": "Linux 4.9.38 #1 SMP PREEMPT",
        "system_filesystem_version": sim.preset.compile_time, "firmware_type": "Release",
        "serinum": sim.serial,
    }  # fmt: skip


def network_info(sim: AntminerSim) -> dict[str, Any]:
    """``get_network_info.cgi``: where pyasic looks for the MAC as a fallback."""
    return {
        "nettype": "DHCP", "netdevice": "eth0", "macaddr": sim.mac, "ipaddress": sim.address,
        "netmask": "255.0.0.0", "conf_nettype": "DHCP", "conf_hostname": sim.hostname,
        "conf_ipaddress": "", "conf_netmask": "", "conf_gateway": "", "conf_dnsservers": "",
    }  # fmt: skip


def acs_string(chips: int) -> str:
    """bmminer's chip map: one ``o`` per healthy chip, in groups of eight."""
    full = "o" * chips
    return " ".join(full[i : i + 8] for i in range(0, chips, 8))


def idle_live(sim: AntminerSim, now: float) -> Live:
    """Values in sleep mode (``bitmain-work-mode`` 1, set through ``set_miner_conf.cgi``):
    boards powered down to ambient, fans at their floor, the controller's few watts; a dead
    board still reads no chips."""
    from hashfleet.sim.antminer import Live

    p, seed = sim.preset, sim.seed
    dead = sim.dead_board if sim.faults.fault is Fault.DEAD_BOARD else -1
    chips = [0 if b == dead else p.chips for b in range(p.boards)]
    pcbs, chip_temps = [], []
    for b in range(p.boards):
        ambient = round(27.0 + 1.5 * wobble(seed, 10 + b, now, 420.0))
        temps = [0, 0, 0, 0] if b == dead else [ambient] * 4
        pcbs.append(temps)
        chip_temps.append(list(temps))
    fans = [int(1200 + 60 * wobble(seed, 30 + f // 2, now, 600.0)) // 60 * 60
            for f in range(p.fans)]  # fmt: skip
    power = 14.0 + wobble(seed, 40, now, 180.0)
    ideal = p.hashrate_ths * 1000.0 / p.boards
    return Live(now, sim.uptime(now), [0.0] * p.boards, ideal, chips, pcbs, chip_temps,
                fans, power)  # fmt: skip


def stats_cgi(sim: AntminerSim, live: Live) -> dict[str, Any]:
    """``stats.cgi`` (and RPC ``stats`` with ``new_api``): ``STATS[0].chain[]`` per board."""
    p = sim.preset
    chains = []
    for b in range(p.boards):
        chips = live.chips[b]
        chains.append(
            {"index": b, "freq_avg": p.freq if chips else 0,
             "rate_ideal": round(live.ideal_board, 2), "rate_real": round(live.rates[b], 2),
             "asic_num": chips, "asic": acs_string(chips),
             "temp_pic": [t - 5 if t else 0 for t in live.chip[b]], "temp_pcb": live.pcb[b],
             "temp_chip": live.chip[b], "hw": live.elapsed // 291 if chips else 0,
             "eeprom_loaded": True, "sn": f"{sim.serial[:8]}B{b}{sim.serial[10:]}",
             "hwp": 0.0001 if chips else 0.0, "tpl": []}
        )  # fmt: skip
    total = round(live.total, 2)
    return {
        "STATUS": _web_status(sim, "stats"),
        "INFO": _info(sim),
        "STATS": [
            {"elapsed": live.elapsed, "rate_5s": total, "rate_30m": total, "rate_avg": total,
             "rate_ideal": round(live.ideal_board * p.boards, 2), "rate_unit": "GH/s",
             "chain_num": p.boards, "fan_num": p.fans, "fan": live.fans, "hwp_total": 0.0001,
             "miner-mode": sim.work_mode, "freq-level": 100, "chain": chains}
        ],
    }  # fmt: skip


def summary_cgi(sim: AntminerSim, live: Live) -> dict[str, Any]:
    """``summary.cgi``: totals and the status lights pyasic turns into errors."""
    fault = sim.faults.fault

    def light(kind: str, bad: bool, code: int, msg: str) -> dict[str, Any]:
        return {"type": kind, "status": "e" if bad else "s", "code": code if bad else 0,
                "msg": msg if bad else ""}  # fmt: skip

    total = round(live.total, 2)
    return {
        "STATUS": _web_status(sim, "summary"),
        "INFO": _info(sim),
        "SUMMARY": [
            {"elapsed": live.elapsed, "rate_5s": total, "rate_30m": total, "rate_avg": total,
             "rate_ideal": round(live.ideal_board * sim.preset.boards, 2), "rate_unit": "GH/s",
             "hw_all": live.elapsed // 97, "bestshare": 1_000_000,
             "status": [
                 light("rate", fault is Fault.DEAD_BOARD, 2, "chain lost"),
                 light("network", fault is Fault.POOL_DOWN, 1, "pool connection failed"),
                 light("fans", False, 0, ""),
                 light("temp", fault is Fault.OVERHEAT, 3, "temperature too high"),
             ]}
        ],
    }  # fmt: skip


def pools_cgi(sim: AntminerSim) -> dict[str, Any]:
    """``pools.cgi`` (and RPC ``pools`` with ``new_api``)."""
    now = sim.clock()
    rows = []
    for n, pool in enumerate(sim.pools):
        acc, rej = pool.counter.accepted(now), pool.counter.rejected(now)
        rows.append(
            {"index": n, "url": pool.url, "user": pool.user, "status": sim.pool_status(pool),
             "priority": pool.prio, "getworks": acc // 3, "accepted": acc, "rejected": rej,
             "discarded": acc // 2, "stale": acc // 5000, "diff": "65.5K", "diff1": 0,
             "diffa": acc * 65536.0, "diffr": rej * 65536.0, "diffs": 0.0, "lsdiff": 65536.0,
             "lstime": "0:00:02"}
        )  # fmt: skip
    return {"STATUS": _web_status(sim, "pools"), "INFO": _info(sim), "POOLS": rows}


def miner_conf(sim: AntminerSim) -> dict[str, Any]:
    """``get_miner_conf.cgi``: the saved configuration, three pool slots and the work mode."""
    slots = [{"url": u, "user": n, "pass": w} for u, n, w in sim.saved_pools[:3]]
    slots += [{"url": "", "user": "", "pass": ""}] * (3 - len(slots))
    return {
        "pools": slots, "api-listen": True, "api-network": True,
        "api-groups": "A:stats:pools:devs:summary:version", "api-allow": "A:0/0,W:*",
        "bitmain-fan-ctrl": False, "bitmain-fan-pwm": "100", "bitmain-use-vil": True,
        "bitmain-freq": str(sim.preset.freq), "bitmain-voltage": "1400", "bitmain-ccdelay": "0",
        "bitmain-pwth": "0", "bitmain-work-mode": str(sim.work_mode), "bitmain-freq-level": "100",
    }  # fmt: skip


def set_miner_conf(sim: AntminerSim, body: bytes) -> dict[str, Any]:
    """``set_miner_conf.cgi``: save ``pools`` (slots with an empty url are unused) and the
    work mode (``bitmain-work-mode``, or ``miner-mode`` as some clients send it)."""
    try:
        doc = msgspec.json.decode(body)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        pools = None
        if "pools" in doc:
            slots = doc["pools"]
            if not isinstance(slots, list) or not all(isinstance(s, dict) for s in slots):
                raise ValueError("pools")
            pools = [
                (str(s["url"]), str(s.get("user", "")), str(s.get("pass", "")))
                for s in slots
                if s.get("url")
            ]
            if not pools:
                raise ValueError("no pool")
        mode = doc.get("bitmain-work-mode", doc.get("miner-mode"))
        work_mode = None if mode is None or mode == "" else int(mode)
        if work_mode not in (None, 0, 1):
            raise ValueError("work mode")
    except (msgspec.DecodeError, ValueError, TypeError, KeyError):
        return {"stats": "error", "code": "M001", "msg": "Illegal json!"}
    sim.save_conf(pools, work_mode)
    return {"stats": "success", "code": "M000", "msg": "OK!"}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_ok(header: str, method: str, username: str, password: str) -> bool:
    """Whether an ``Authorization: Digest …`` header proves ``username:password`` (MD5)."""
    if not header.lower().startswith("digest "):
        return False
    f = {m[0].lower(): m[1] or m[2] for m in _DIGEST_FIELD.findall(header[7:])}
    if f.get("username") != username:
        return False
    ha1 = _md5(f"{username}:{REALM}:{password}")
    ha2 = _md5(f"{method}:{f.get('uri', '')}")
    if f.get("qop"):
        expected = _md5(f"{ha1}:{f.get('nonce')}:{f.get('nc')}:{f.get('cnonce')}:{f['qop']}:{ha2}")
    else:
        expected = _md5(f"{ha1}:{f.get('nonce')}:{ha2}")
    return expected == f.get("response")


def _json(doc: dict[str, Any]) -> web.Response:
    return web.Response(body=msgspec.json.encode(doc), content_type="application/json")


class AntminerWeb:
    """One HTTP server answering the web UI of many simulated Antminers, a listener each."""

    def __init__(
        self, port: int = WEB_PORT, username: str = "root", password: str = "root"
    ) -> None:
        """Serve on ``port`` of every added miner's address with these Digest credentials."""
        self.port = port
        self.username = username
        self.password = password
        self._sims: dict[str, AntminerSim] = {}
        self._runner: web.ServerRunner | None = None

    async def setup(self) -> None:
        """Create the shared server (no socket yet)."""
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=0.5)
        await self._runner.setup()

    async def add(self, sim: AntminerSim) -> None:
        """Listen on ``sim.address:port``; raises ``OSError`` (e.g. port 80 without root)."""
        if self._runner is None:
            await self.setup()
        assert self._runner is not None and self._runner.server is not None
        listener = Listener(sim.address, self.port, self._runner.server)
        await listener.start()
        sim.listeners.append(listener)
        self._sims[sim.address] = sim
        if sim.faults.fault is Fault.REFUSE:
            listener.close_now()

    async def close(self) -> None:
        """Stop the listeners added here and the server."""
        for sim in self._sims.values():
            for listener in sim.listeners:
                if listener.port == self.port:
                    await listener.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        sim = self._sims.get(sockname[0]) if sockname else None
        if sim is None or transport is None:
            return web.Response(status=404, body=_HTML_404, content_type="text/html")
        fault = sim.faults.fault
        if fault is Fault.REFUSE:
            sim.admit(transport)  # resets the kept-alive connection
            return web.Response(status=503)
        if fault is Fault.HANG:
            await sim.hung()
            return web.Response(status=503)
        if not digest_ok(request.headers.get("Authorization", ""), request.method,
                         self.username, self.password):  # fmt: skip
            challenge = (
                f'Digest realm="{REALM}", charset="UTF-8", nonce="{os.urandom(16).hex()}", '
                'qop="auth", algorithm="MD5"'
            )
            return web.Response(status=401, body=_HTML_401, content_type="text/html",
                                headers={"WWW-Authenticate": challenge})  # fmt: skip
        if fault is Fault.GARBAGE:
            return web.Response(body=GARBAGE_BYTES, content_type="application/json")
        return await self._route(sim, request)

    async def _route(self, sim: AntminerSim, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path in ("/", "/index.html"):
            return web.Response(body=_HTML_INDEX, content_type="text/html")
        name = path.removeprefix("/cgi-bin/").removesuffix(".cgi")
        if not path.startswith("/cgi-bin/") or not path.endswith(".cgi"):
            name = ""
        if name == "reboot":
            sim.restart(sim.reboot_downtime)
            return web.Response(body=b"", content_type="text/html")
        if name == "blink" and request.method == "POST":
            body = await request.read()
            try:
                wanted = msgspec.json.decode(body).get("blink") in (True, "true")
            except (msgspec.DecodeError, AttributeError):
                return web.Response(status=400, body=b"bad request", content_type="text/html")
            sim.blink = wanted
            return _json({"code": "B000" if wanted else "B100"})
        if name == "set_miner_conf" and request.method == "POST":
            return _json(set_miner_conf(sim, await request.read()))
        docs = {
            "get_system_info": system_info,
            "get_network_info": network_info,
            "get_miner_conf": miner_conf,
            "pools": pools_cgi,
        }
        if name in docs:
            return _json(docs[name](sim))
        if name == "get_blink_status":
            return _json({"blink": sim.blink})
        if name in ("stats", "summary"):
            live = sim.live(sim.clock())
            return _json(stats_cgi(sim, live) if name == "stats" else summary_cgi(sim, live))
        return web.Response(status=404, body=_HTML_404, content_type="text/html")
