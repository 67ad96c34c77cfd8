"""API 3 of a simulated Whatsminer (firmware from late 2024 on; TCP 4433).

Each message is a 4-byte little-endian length and that many bytes of JSON, both ways:
``{"cmd": "get.miner.status", "param": "summary"}`` → ``{"code": 0, "when": …, "msg": {…},
"desc": "get.miner.status"}``. ``set.*`` commands also carry ``ts``, ``account`` and a
``token`` (the first 8 base64 characters of sha256(cmd + password + salt + ts), the salt
from ``get.device.info`` with param ``"salt"``). Codes: 0 ok, -1 failed, -2 invalid command,
-3 invalid JSON, -4 permission denied. Hash rates are TH/s here, not MH/s as in API 2.x.

Also here: :func:`run_v2_write`, what the API 2.x write commands do to the device once
decrypted (reboot, power_off/on, power modes, power limit, target frequency, LED, pools),
which API 3's
``set.*`` commands mirror.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING, Any

import msgspec

from hashfleet.drivers.whatsminer import crypto
from hashfleet.sim.faults import GARBAGE_BYTES, Fault

if TYPE_CHECKING:
    from hashfleet.sim.whatsminer import Live, WhatsminerSim

POOL_SLOTS = 3

API3_VERSION = "3.0.1"
TS_WINDOW = 300.0  # how far a set command's ts may be from the device's clock
MAX_FRAME = 65536
FREQ_PCT_MIN, FREQ_PCT_MAX = -10, 100  # set_target_freq's range in MicroBT's documents

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def run_v2_write(sim: WhatsminerSim, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Carry out one decrypted, authorised API 2.x write command on ``sim``."""
    ok = sim.status(131, "API command OK")
    if name in ("reboot", "restart_btminer"):
        sim.restart(sim.reboot_downtime)
        return ok
    if name == "power_off":
        sim.set_off(True)
        return ok
    if name == "power_on":
        sim.set_off(False)
        return ok
    if name in ("set_low_power", "set_normal_power", "set_high_power"):
        sim.power_mode = name.split("_")[1]
        return ok
    if name == "adjust_power_limit":
        try:
            watts = int(str(args.get("power_limit")))
        except ValueError:
            return sim.status(132, "invalid power_limit", "E")
        if not 0 < watts <= 99999:
            return sim.status(132, "invalid power_limit", "E")
        sim.power_limit = watts
        return ok
    if name == "set_target_freq":
        # MicroBT's API 2.0.5: percent of the factory frequency, -10 to 100, as a string.
        try:
            percent = int(str(args.get("percent")))
        except ValueError:
            return sim.status(132, "invalid percent", "E")
        if not FREQ_PCT_MIN <= percent <= FREQ_PCT_MAX:
            return sim.status(132, "invalid percent", "E")
        sim.freq_pct = percent
        return ok
    if name == "set_led":
        if args.get("param") == "auto":
            sim.led = "auto"
        elif args.get("color") in ("red", "green"):
            sim.led = str(args["color"])
        else:
            return sim.status(132, "invalid led param", "E")
        return ok
    if name == "update_pools":
        slots = []
        for n in range(1, POOL_SLOTS + 1):
            url, worker, pw = (args.get(f"{k}{n}") for k in ("pool", "worker", "passwd"))
            slots.append((str(url or ""), str(worker or ""), str(pw or "")))
        if not slots[0][0]:
            return sim.status(132, "pool1 is empty", "E")
        sim.set_pools(slots)
        return ok
    return sim.status(14, "invalid cmd", "E")


def frame(obj: Any) -> bytes:
    """Length-prefixed JSON."""
    body = _encode(obj)
    return struct.pack("<I", len(body)) + body


class V3Api:
    """The API 3 answers of one simulated device."""

    def __init__(self, sim: WhatsminerSim) -> None:
        """Answer for ``sim``."""
        self.sim = sim

    def _reply(self, cmd: str, code: int, msg: Any) -> dict[str, Any]:
        return {"code": code, "when": int(self.sim.clock()), "msg": msg, "desc": cmd}

    def answer(self, body: bytes) -> dict[str, Any]:
        """The reply to one request body."""
        try:
            req = _decode(body)
        except msgspec.DecodeError:
            return self._reply("", -3, "invalid json")
        if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
            return self._reply("", -3, "invalid json")
        cmd: str = req["cmd"]
        param = req.get("param")
        if cmd.startswith("set."):
            if not self._authorised(cmd, req):
                return self._reply(cmd, -4, "permission denied")
            return self._set(cmd, param)
        sim = self.sim
        if cmd == "get.device.info":
            if param == "salt":
                return self._reply(cmd, 0, {"salt": sim.v3_salt})
            return self._reply(cmd, 0, self.device_info(sim.live(sim.clock())))
        if cmd == "get.miner.status":
            parts = str(param or "summary").split(",")
            live = sim.live(sim.clock())
            msg: dict[str, Any] = {}
            for part in parts:
                if part == "summary":
                    msg["summary"] = self.summary(live)
                elif part == "edevs":
                    msg["edevs"] = [self.board(live, b) for b in range(sim.preset.boards)]
                elif part == "pools":
                    msg["pools"] = self.pools(live)
                else:
                    return self._reply(cmd, -1, f"invalid param {part}")
            return self._reply(cmd, 0, msg)
        return self._reply(cmd, -2, "invalid command")

    def _authorised(self, cmd: str, req: dict[str, Any]) -> bool:
        ts, token = req.get("ts"), req.get("token")
        if req.get("account") != "super" or not isinstance(ts, int) or not isinstance(token, str):
            return False
        if abs(ts - self.sim.clock()) > TS_WINDOW:
            return False
        return token == crypto.v3_token(cmd, self.sim.v3_password, self.sim.v3_salt, ts)

    def _set(self, cmd: str, param: Any) -> dict[str, Any]:
        sim = self.sim
        if cmd == "set.system.reboot":
            sim.restart(sim.reboot_downtime)
        elif cmd == "set.miner.service" and param in ("start", "stop", "restart"):
            if param == "restart":
                sim.restart(0.0)
            else:
                sim.set_off(param == "stop")
        elif cmd == "set.miner.power_mode" and param in ("low", "normal", "high"):
            sim.power_mode = str(param)
        elif cmd == "set.miner.power_limit" and isinstance(param, int) and 0 < param < 99999:
            sim.power_limit = param
        elif (cmd == "set.miner.target_freq" and isinstance(param, int)
              and FREQ_PCT_MIN <= param <= FREQ_PCT_MAX):  # fmt: skip
            sim.freq_pct = param
        elif cmd == "set.system.led" and (param == "auto" or isinstance(param, list)):
            colors = (
                [p.get("color") for p in param if isinstance(p, dict)] if param != "auto" else []
            )
            sim.led = "auto" if param == "auto" else str(colors[0] if colors else "red")
        elif cmd == "set.miner.pools" and isinstance(param, list) and param:
            slots = [(str(p.get("pool", "")), str(p.get("worker", "")), str(p.get("passwd", "")))
                     for p in param if isinstance(p, dict)]  # fmt: skip
            sim.set_pools(slots)
        elif cmd in ("set.system.reboot", "set.miner.service", "set.miner.power_mode",
                     "set.miner.power_limit", "set.system.led", "set.miner.pools",
                     "set.miner.target_freq"):  # fmt: skip
            return self._reply(cmd, -1, "invalid param")
        else:
            return self._reply(cmd, -2, "invalid command")
        return self._reply(cmd, 0, "ok")

    def device_info(self, live: Live) -> dict[str, Any]:
        """``get.device.info``'s msg."""
        sim, p = self.sim, self.sim.preset
        errors = [{str(c): "", "reason": ""} for c in live.errors]
        miner = {"type": p.type_code, "miner-sn": sim.serial, "hash-board": "K62",
                 "working": str(not sim.off).lower()}  # fmt: skip
        for b, sn in enumerate(sim.pcb_sns):
            miner[f"pcbsn{b}"] = sn
        return {
            "network": {"ip": sim.address, "proto": "dhcp", "netmask": "255.255.255.0",
                        "dns": "1.1.1.1", "mac": sim.mac, "hostname": sim.hostname},
            "miner": miner,
            "system": {"api": API3_VERSION, "platform": p.platform, "fwversion": p.firmware,
                       "control-board-version": "H616", "ledstatus": sim.led},
            "power": {"type": p.psu, "mode": sim.power_mode, "hwversion": "V01.00",
                      "swversion": "V01.03", "model": p.psu, "iin": round(live.power / 220, 2),
                      "vin": 220.0, "fanspeed": 0 if live.off else 6480,
                      "sn": "P" + sim.serial[1:]},
            "hardware": {"boards": p.boards},
            "error-code": errors,
        }  # fmt: skip

    def summary(self, live: Live) -> dict[str, Any]:
        """``get.miner.status`` summary (TH/s)."""
        sim, p = self.sim, self.sim.preset
        acc, rej = sim.shares(live.now)
        ths = live.total / 1000.0
        temps = live.chip_temps
        return {"elapsed": live.elapsed, "bootup-time": live.elapsed + 40,
                "hash-realtime": round(ths, 3), "hash-average": round(ths * 0.998, 3),
                "factory-hash": p.hashrate_ths, "power-realtime": live.power,
                "power-limit": sim.power_limit, "power-mode": sim.power_mode,
                "fan-speed-in": live.fan_in, "fan-speed-out": live.fan_out,
                "environment-temperature": live.env, "chip-temp-min": min(t[0] for t in temps),
                "chip-temp-max": max(t[1] for t in temps), "accepted": acc, "rejected": rej,
                "board-temperature": max(live.board_temps)}  # fmt: skip

    def board(self, live: Live, b: int) -> dict[str, Any]:
        """One ``edevs`` entry."""
        p = self.sim.preset
        lo, hi, avg = live.chip_temps[b]
        dead = live.rates[b] == 0 and not live.off
        return {"id": b, "slot": b, "hash-average": round(live.rates[b] / 1000.0, 3),
                "factory-hash": round(p.hashrate_ths / p.boards, 3),
                "chip-temp-min": lo, "chip-temp-max": hi, "chip-temp-avg": avg,
                "board-temperature": live.board_temps[b],
                "freq": 0 if dead or live.off else self.sim.target_freq,
                "effective-chips": 0 if dead else p.chips}  # fmt: skip

    def pools(self, live: Live) -> list[dict[str, Any]]:
        """``get.miner.status`` pools."""
        down = self.sim.faults.fault is Fault.POOL_DOWN
        active = self.sim.active_pool()
        return [{"id": i + 1, "url": pool.url, "account": pool.user,
                 "status": "dead" if down else "alive",
                 "stratum-active": pool is active and not down,
                 "accepted": pool.counter.accepted(live.now),
                 "rejected": pool.counter.rejected(live.now)}
                for i, pool in enumerate(self.sim.pools) if pool.url]  # fmt: skip


class V3Protocol(asyncio.Protocol):
    """One API 3 connection: length-prefixed requests, answered in turn until closed."""

    __slots__ = ("_api", "_buf", "_sim", "_transport")

    def __init__(self, sim: WhatsminerSim) -> None:
        """Serve ``sim``."""
        self._sim = sim
        self._api = V3Api(sim)
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept unless the device refuses."""
        if self._sim.admit(transport) and isinstance(transport, asyncio.Transport):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Answer every complete frame."""
        self._buf += data
        transport = self._transport
        while transport is not None and not transport.is_closing() and len(self._buf) >= 4:
            fault = self._sim.faults.fault
            if fault is Fault.HANG:
                self._sim.hold(transport)
                return
            if fault is Fault.REFUSE:
                self._sim.admit(transport)
                return
            (size,) = struct.unpack("<I", self._buf[:4])
            if size > MAX_FRAME:
                transport.write(frame(self._api._reply("", -3, "invalid json")))
                transport.close()
                return
            if len(self._buf) < 4 + size:
                return
            body, self._buf = self._buf[4 : 4 + size], self._buf[4 + size :]
            if fault is Fault.GARBAGE:
                transport.write(GARBAGE_BYTES)
                transport.close()
                return
            transport.write(frame(self._api.answer(body)))

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop tracking the connection."""
        if self._transport is not None:
            self._sim.forget(self._transport)
            self._transport = None
