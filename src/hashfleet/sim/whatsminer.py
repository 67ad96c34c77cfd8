"""A simulated MicroBT Whatsminer: btminer's API 2.x on TCP 4028 (and API 3 on TCP 4433 for
newer firmware, see :mod:`hashfleet.sim.whatsminer_v3`).

API 2.x reads are plain cgminer-style JSON (``{"command": "summary+edevs+pools"}``; commands
starting with ``get_`` and ``status`` cannot be joined and answer with a bare
``{"STATUS": "S", "Code": 131, "Msg": {...}}`` object). Writes are encrypted: ``get_token``
gives ``{time, salt, newsalt}``, the command comes as ``{"enc": 1, "data": base64(AES)}``
carrying the token's sign, and the answer goes back as ``{"enc": "..."}``. Tokens expire
after :data:`TOKEN_TTL` seconds (code 135 "check token err") and at most ``token_limit``
tokens are handed out per :data:`TOKEN_TTL` window (code 136 "token over max times").

Content faults use btminer's error codes: 350+slot (temperature protecting) with chips above
95 °C, 530+slot (slot not found) for the dead board, 2020+n (pool n connection failed).
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hashfleet.drivers.whatsminer import crypto
from hashfleet.sim.base import Clock, Listener, ShareCounter, SimDevice, noise, wobble
from hashfleet.sim.faults import GARBAGE_BYTES, Fault
from hashfleet.sim.registry import SimFamily
from hashfleet.sim.whatsminer_v3 import POOL_SLOTS, V3Protocol, run_v2_write

RPC_PORT = 4028
V3_PORT = 4433
API_VERSION = "2.0.5"
TOKEN_TTL = 1800.0  # a token is good for 30 minutes
TOKEN_LIMIT = 32  # tokens handed out per TOKEN_TTL window
POOL_DIFFICULTY = 65536.0
_REQUEST_LIMIT = 65536
_JOINABLE = frozenset({"summary", "pools", "devs", "edevs", "devdetails", "version"})
POWER_MODES: dict[str, tuple[float, float]] = {  # mode → (hashrate factor, power factor)
    "low": (0.8, 0.72),
    "normal": (1.0, 1.0),
    "high": (1.12, 1.22),
}

_encode = msgspec.json.encode
_decode = msgspec.json.decode


@dataclass(frozen=True, slots=True)
class Preset:
    """Nameplate figures and firmware identity of one model."""

    model: str  # "M30S+"
    type_code: str  # devdetails "Model" / v3 miner.type, as pyasic maps it to a class
    firmware: str  # get_version fw_ver (YYYYMMDD.NN.REL)
    platform: str
    chip: str
    hashrate_ths: float
    power_w: float
    boards: int
    chips: int  # per board
    freq: int
    psu: str
    v3: bool = False  # also serves API 3 on TCP 4433


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("M30S+", "M30S+_V10", "20220601.22.REL", "H6OS", "K56SD0", 100.0, 3400.0,
               3, 215, 590, "P221B"),
        Preset("M50S", "M50S_VH20", "20230508.14.REL", "H616", "BM1370", 126.0, 3276.0,
               3, 135, 470, "P222B"),
        Preset("M60", "M60_VK10", "20241202.12.REL", "H616", "K62", 172.0, 3422.0,
               3, 156, 500, "P231", v3=True),
    )
}  # fmt: skip
DEFAULT_MODEL = "M30S+"


@dataclass(slots=True)
class SimPool:
    """One of the three pool slots."""

    url: str
    user: str
    password: str
    counter: ShareCounter


@dataclass(slots=True)
class Live:
    """Values of one instant, shared by the commands of one request."""

    now: float
    elapsed: int
    off: bool
    rates: list[float]  # GH/s per board
    chip_temps: list[tuple[float, float, float]]  # (min, max, avg) per board
    board_temps: list[float]
    env: float
    fan_in: int
    fan_out: int
    power: int
    errors: list[int] = field(default_factory=list)

    @property
    def total(self) -> float:
        """GH/s of all boards."""
        return sum(self.rates)


def _salt(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


class WhatsminerSim(SimDevice):
    """One simulated Whatsminer: state, drifting values and the btminer replies."""

    family = "whatsminer"

    def __init__(
        self,
        address: str,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        port: int = RPC_PORT,
        v3_port: int = V3_PORT,
        clock: Clock = time.time,
        password: str = "admin",
        v3_password: str = "super",
        token_limit: int = TOKEN_LIMIT,
        reboot_downtime: float = 0.0,
    ) -> None:
        """A Whatsminer of ``model`` (a key of :data:`PRESETS`); the API 2.x admin password is
        ``password``, the API 3 ``super`` account's ``v3_password``."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.preset = p = PRESETS[model]
        self.password = password
        self.v3_password = v3_password
        self.token_limit = token_limit
        self.reboot_downtime = reboot_downtime
        self.power_mode = "normal"
        self.power_limit = int(p.power_w * 1.1 // 100 * 100)
        self.freq_pct = 0  # set_target_freq: percent offset from the factory frequency
        self.off = False
        self.led: str = "auto"  # "auto" or the colour forced on
        self.dead_board = seed % p.boards
        rng = random.Random(seed * 7919 + 11)
        # The salt is fixed per device (it only changes with the password); newsalt per token.
        self.salt = _salt(rng)
        self.v3_salt = _salt(rng)
        self._rng = rng
        self.tokens: dict[str, float] = {}  # sign → expiry
        self.token_times: list[float] = []  # when tokens were handed out (rate limit)
        octets = [int(x) for x in address.split(".")]
        self.mac = "C6:0A:{:02X}:{:02X}:{:02X}:{:02X}".format(*octets)
        self.serial = f"HTM3X{octets[2]:02d}{octets[3]:03d}{seed % 10000:04d}"
        self.hostname = "WhatsMiner"
        self.pcb_sns = [f"{self.serial[:8]}B{b}{seed % 997:03d}" for b in range(p.boards)]
        now = self.clock()
        worker = "fleet." + address.replace(".", "x")
        urls = (
            "stratum+tcp://btc.pool.example.net:3333",
            "stratum+tcp://btc-backup.pool.example.net:443",
            "stratum+tcp://btc-eu.pool.example.net:25",
        )
        self.pools = [SimPool(u, worker, "x", self._counter(now)) for u in urls]
        self.pools[0].counter.banked = self.uptime(now) * self.pools[0].counter.rate
        self._sync(now)
        self.listeners.append(Listener(address, port, lambda: BtminerProtocol(self)))
        if p.v3:
            self.listeners.append(Listener(address, v3_port, lambda: V3Protocol(self)))

    # -- state ---------------------------------------------------------------------------

    def _counter(self, now: float) -> ShareCounter:
        rate = self.preset.hashrate_ths * 1e12 / (POOL_DIFFICULTY * 2**32)
        return ShareCounter(rate, 0.0015, now)

    @property
    def model(self) -> str:
        """The preset's model name."""
        return self.preset.model

    def thing_opts(self) -> dict[str, object]:
        """Driver opts, with the admin password writes need (and ``api: v3`` for v3)."""
        opts = super().thing_opts()
        if self.preset.v3:
            opts["port"] = self.listeners[1].port
            opts["password"] = self.v3_password
            opts["params"] = {"api": "v3"}
        else:
            opts["password"] = self.password
        return opts

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus power mode, limit, LED and pools."""
        out = super().info()
        out.update(power_mode=self.power_mode, power_limit=self.power_limit, off=self.off,
                   led=self.led, pools=[p.url for p in self.pools],
                   freq_pct=self.freq_pct, target_freq=self.target_freq)  # fmt: skip
        return out

    @property
    def target_freq(self) -> int:
        """The chip frequency (MHz) aimed at: the factory one moved by ``freq_pct``."""
        return round(self.preset.freq * (1 + self.freq_pct / 100.0))

    def active_pool(self) -> SimPool | None:
        """btminer mines on the first pool slot with a URL."""
        return next((p for p in self.pools if p.url), None)

    def _sync(self, now: float) -> None:
        active = self.active_pool()
        mining = self.faults.fault is not Fault.POOL_DOWN and not self.off
        for pool in self.pools:
            pool.counter.set_running(now, mining and pool is active)

    def _faults_changed(self, now: float) -> None:
        self._sync(now)

    def _restarted(self, now: float) -> None:
        for pool in self.pools:
            pool.counter.reset(now)
        self._sync(now)

    def set_off(self, off: bool) -> None:
        """Stop (``power_off``) or start (``power_on``) hashing."""
        self.off = off
        self._sync(self.clock())

    def set_pools(self, slots: list[tuple[str, str, str]]) -> None:
        """Replace the pool slots with ``(url, worker, password)`` triples."""
        now = self.clock()
        slots = (slots + [("", "", "")] * POOL_SLOTS)[:POOL_SLOTS]
        self.pools = [SimPool(u, w, pw, self._counter(now)) for u, w, pw in slots]
        self._sync(now)

    def live(self, now: float) -> Live:
        """Drifting values at ``now``."""
        p, seed, fault = self.preset, self.seed, self.faults.fault
        hot = fault is Fault.OVERHEAT
        hr_factor, pw_factor = POWER_MODES[self.power_mode]
        # Hashrate follows the chip frequency; power a little more than linearly.
        freq_factor = 1 + self.freq_pct / 100.0
        hr_factor *= freq_factor
        mode_power = p.power_w * pw_factor * freq_factor**1.2
        # A power limit below what the mode draws slows the chips down proportionally.
        throttle = min(1.0, self.power_limit / mode_power)
        ideal = p.hashrate_ths * 1000.0 * hr_factor * throttle
        rates: list[float] = []
        chip_temps: list[tuple[float, float, float]] = []
        board_temps: list[float] = []
        errors: list[int] = []
        for b in range(p.boards):
            dead = fault is Fault.DEAD_BOARD and b == self.dead_board
            if self.off or dead:
                rates.append(0.0)
            else:
                rate = ideal / p.boards * (1.0 + 0.012 * wobble(seed, 20 + b, now, 240.0))
                rates.append(rate * 0.93 if hot else rate)
            base = 64.0 + 2 * b + 2.5 * wobble(seed, 10 + b, now, 420.0)
            if hot:
                base += 36.0
            if self.off or dead:
                base = 30.0 + 2 * wobble(seed, 10 + b, now, 420.0)
            spread = 4.0 + noise(seed, 60 + b, 0)
            chip_temps.append(
                (round(base - spread, 2), round(base + spread + 3, 2), round(base, 2))
            )
            board_temps.append(round(base - 9.0, 2))
            if dead:
                errors.append(530 + b)
            if hot:
                errors.append(350 + b)
        if fault is Fault.POOL_DOWN:
            errors.extend(2020 + i for i, pool in enumerate(self.pools) if pool.url)
        env = round(25.0 + 2 * wobble(seed, 5, now, 900.0), 2)
        rpm = 0.0 if self.off else 4800.0 * (min(1.0, hr_factor)) + (1400 if hot else 0)
        fan_in = int(rpm + 80 * wobble(seed, 30, now, 600.0)) if rpm else 0
        fan_out = int(rpm * 1.02 + 80 * wobble(seed, 31, now, 600.0)) if rpm else 0
        if self.off:
            power = int(14 + 2 * wobble(seed, 40, now, 180.0))
        else:
            load = sum(rates) / max(ideal, 1.0)
            draw = mode_power * load + 12 * wobble(seed, 40, now, 180.0)
            power = int(min(draw, self.power_limit - 3.0))
        return Live(now, self.uptime(now), self.off, rates, chip_temps, board_temps, env,
                    fan_in, fan_out, power, errors)  # fmt: skip

    def shares(self, now: float) -> tuple[int, int]:
        """Accepted and rejected shares of all pools."""
        acc = sum(p.counter.accepted(now) for p in self.pools)
        return acc, sum(p.counter.rejected(now) for p in self.pools)

    # -- tokens --------------------------------------------------------------------------

    def issue_token(self, now: float) -> dict[str, str] | None:
        """A new ``get_token`` answer, or ``None`` over the per-window limit."""
        self.token_times = [t for t in self.token_times if t > now - TOKEN_TTL]
        if len(self.token_times) >= self.token_limit:
            return None
        self.token_times.append(now)
        stamp, newsalt = str(int(now)), _salt(self._rng)
        key = crypto.password_key(self.password, self.salt)
        self.tokens[crypto.sign(key, stamp, newsalt)] = now + TOKEN_TTL
        return {"time": stamp, "salt": self.salt, "newsalt": newsalt}

    def token_ok(self, token: Any, now: float) -> bool:
        """Whether ``token`` was handed out and has not expired."""
        expiry = self.tokens.get(token) if isinstance(token, str) else None
        if expiry is None:
            return False
        if expiry <= now:
            del self.tokens[token]
            return False
        return True

    # -- the API ---------------------------------------------------------------------------

    def answer(self, buf: bytes, eof: bool) -> bytes | None:
        """The bytes to send for request ``buf``, or ``None`` while it is incomplete."""
        text = buf.strip(b"\x00 \r\n\t")
        if not text:
            return None if not eof else self._json(self.status(23, "invalid json", "E"))
        try:
            req = _decode(text)
        except msgspec.DecodeError as exc:
            if "truncated" in str(exc) and not eof and len(text) < _REQUEST_LIMIT:
                return None
            return self._json(self.status(23, "invalid json", "E"))
        if not isinstance(req, dict):
            return self._json(self.status(23, "invalid json", "E"))
        if req.get("enc") is not None:
            return self._json(self.write(req))
        cmd = req.get("cmd", req.get("command"))
        if not isinstance(cmd, str):
            return self._json(self.status(14, "invalid cmd", "E"))
        if "+" in cmd:
            parts = list(dict.fromkeys(cmd.split("+")))
            bad = next((c for c in parts if c not in _JOINABLE), None)
            if bad is not None:
                return self._json(self.status(14, "invalid cmd", "E"))
            live = self.live(self.clock())
            joined: dict[str, Any] = {c: [self.read(c, live)] for c in parts}
            joined["id"] = 1
            return self._json(joined)
        return self._json(self.read(cmd, None))

    def _json(self, reply: dict[str, Any]) -> bytes:
        return _encode(reply)

    def status(self, code: int, msg: Any, status: str = "S") -> dict[str, Any]:
        """A bare btminer status object (``get_*`` answers, errors, write results)."""
        return {"STATUS": status, "When": int(self.clock()), "Code": code, "Msg": msg,
                "Description": ""}  # fmt: skip

    def _section(self, code: int, msg: str, section: str, rows: Any) -> dict[str, Any]:
        entry = {"STATUS": "S", "When": int(self.clock()), "Code": code, "Msg": msg,
                 "Description": "btminer"}  # fmt: skip
        return {"STATUS": [entry], section: rows, "id": 1}

    def read(self, cmd: str, live: Live | None) -> dict[str, Any]:
        """The reply to one read command."""
        now = self.clock()
        if cmd == "get_token":
            token = self.issue_token(now)
            if token is None:
                return self.status(136, "token over max times", "E")
            return self.status(134, token)
        if cmd == "get_version":
            p = self.preset
            msg = {"api_ver": f"whatsminer v{API_VERSION}", "fw_ver": p.firmware,
                   "platform": p.platform, "chip": p.chip}  # fmt: skip
            return self.status(131, msg)
        if cmd == "get_miner_info":
            return self.status(131, self.miner_info())
        if cmd == "status":
            msg = {
                "btmineroff": str(self.off).lower(),
                "Firmware Version": f"'{self.preset.firmware}'",
            }
            return self.status(131, msg)
        if cmd == "version":
            row = {"Version": "btminer", "API": API_VERSION, "Firmware": self.preset.firmware}
            return self._section(22, "BTMiner versions", "VERSION", [row])
        if cmd == "devdetails":
            code = self.preset.type_code
            rows = [{"DEVDETAILS": b, "Name": "SM", "ID": b, "Driver": "bitmicro", "Kernel": "",
                     "Model": code} for b in range(self.preset.boards)]  # fmt: skip
            return self._section(69, "Device Details", "DEVDETAILS", rows)
        live = live or self.live(now)
        if cmd == "get_psu":
            return self.status(131, self.psu(live))
        if cmd == "get_error_code":
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
            return self.status(131, {"error_code": [{str(c): stamp} for c in live.errors]})
        if cmd == "summary":
            return self._section(11, "Summary", "SUMMARY", [self.summary(live)])
        if cmd in ("devs", "edevs"):
            rows = [self.board(live, b) for b in range(self.preset.boards)]
            return self._section(9, f"{len(rows)} ASC(s)", "DEVS", rows)
        if cmd == "pools":
            return self._section(7, f"{POOL_SLOTS} Pool(s)", "POOLS", self.pool_rows(live))
        return self.status(14, "invalid cmd", "E")

    def miner_info(self) -> dict[str, str]:
        """``get_miner_info``'s Msg."""
        return {"ip": self.address, "proto": "dhcp", "netmask": "255.255.255.0",
                "gateway": self.address.rsplit(".", 1)[0] + ".1", "dns": "1.1.1.1",
                "hostname": self.hostname, "mac": self.mac, "ledstat": self.led,
                "minersn": self.serial, "powersn": "P" + self.serial[1:]}  # fmt: skip

    def psu(self, live: Live) -> dict[str, str]:
        """``get_psu``'s Msg (btminer gives every value as a string)."""
        return {"name": self.preset.psu, "hw_version": "V01.00", "sw_version": "V01.00.V01.03",
                "model": self.preset.psu, "iin": f"{live.power / 220:.2f}", "vin": "22000",
                "pin": str(live.power), "fan_speed": str(0 if live.off else 6480),
                "version": "1", "serial_no": "P" + self.serial[1:], "vendor": "1",
                "temp0": f"{live.env + 12:.1f}"}  # fmt: skip

    def summary(self, live: Live) -> dict[str, Any]:
        """The ``SUMMARY`` row."""
        p, now = self.preset, live.now
        acc, rej = self.shares(now)
        mhs = live.total * 1000.0
        jitter = 1.0 + 0.01 * noise(self.seed, 51, int(now))
        temps = [t for t in live.chip_temps]
        row: dict[str, Any] = {
            "Elapsed": live.elapsed, "MHS av": round(mhs * 0.998, 2),
            "MHS 5s": round(mhs * jitter, 2), "MHS 1m": round(mhs, 2),
            "MHS 5m": round(mhs * 0.999, 2), "MHS 15m": round(mhs * 0.998, 2),
            "HS RT": round(mhs, 2), "Accepted": acc, "Rejected": rej,
            "Total MH": round(mhs * live.elapsed), "Temperature": max(live.board_temps),
            "freq_avg": 0 if live.off else self.target_freq, "Fan Speed In": live.fan_in,
            "Fan Speed Out": live.fan_out, "Power": live.power,
            "Power Rate": round(live.power / max(live.total / 1000.0, 0.001), 2),
            "Pool Rejected%": round(100.0 * rej / max(acc + rej, 1), 4), "Pool Stale%": 0.0,
            "Last getwork": int(now), "Uptime": live.elapsed + 40, "Security Mode": 0,
            "Hash Stable": True, "Hash Stable Cost Seconds": 1800, "Hash Deviation%": 0.3,
            "Target Freq": self.target_freq,
            "Target MHS": round(p.hashrate_ths * 1e6 * self.target_freq / p.freq, 0),
            "Env Temp": live.env, "Power Mode": self.power_mode.capitalize(),
            "Factory GHS": int(p.hashrate_ths * 1000), "Power Limit": self.power_limit,
            "Chip Temp Min": min(t[0] for t in temps), "Chip Temp Max": max(t[1] for t in temps),
            "Chip Temp Avg": round(sum(t[2] for t in temps) / len(temps), 2),
            "Debug": "-0.0_100.0_0", "Btminer Fast Boot": "disable", "Upfreq Complete": 1,
            "Error Code Count": len(live.errors), "MAC": self.mac,
        }  # fmt: skip
        for i, code in enumerate(live.errors):
            row[f"Error Code {i}"] = code
        return row

    def board(self, live: Live, b: int) -> dict[str, Any]:
        """One ``DEVS`` row (the same for ``devs`` and ``edevs``)."""
        p = self.preset
        mhs = live.rates[b] * 1000.0
        lo, hi, avg = live.chip_temps[b]
        dead = mhs == 0 and not live.off
        return {"ASC": b, "Name": "SM", "ID": b, "Slot": b, "Enabled": "Y",
                "Status": "Dead" if dead else "Alive", "Temperature": live.board_temps[b],
                "Chip Frequency": 0 if mhs == 0 else self.target_freq, "Fan Speed In": live.fan_in,
                "Fan Speed Out": live.fan_out, "MHS av": round(mhs * 0.998, 2),
                "MHS 5s": round(mhs, 2), "MHS 1m": round(mhs, 2), "MHS 5m": round(mhs, 2),
                "MHS 15m": round(mhs, 2), "Factory GHS": int(p.hashrate_ths * 1000 / p.boards),
                "Upfreq Complete": 1, "Effective Chips": 0 if dead else p.chips,
                "PCB SN": self.pcb_sns[b], "Chip Temp Min": lo, "Chip Temp Max": hi,
                "Chip Temp Avg": avg, "chip_vol_diff": 6}  # fmt: skip

    def pool_rows(self, live: Live) -> list[dict[str, Any]]:
        """The ``POOLS`` rows; a slot without URL is left out, as btminer does."""
        down = self.faults.fault is Fault.POOL_DOWN
        active = self.active_pool()
        rows = []
        for i, pool in enumerate(self.pools):
            if not pool.url:
                continue
            acc, rej = pool.counter.accepted(live.now), pool.counter.rejected(live.now)
            rows.append({"POOL": i + 1, "URL": pool.url, "Status": "Dead" if down else "Alive",
                         "Priority": i, "Quota": 1, "Long Poll": "N", "Getworks": acc // 3 + 1,
                         "Accepted": acc, "Rejected": rej, "Works": acc * 4, "Discarded": 0,
                         "Stale": 0, "Get Failures": 0, "Remote Failures": 0,
                         "User": pool.user, "Last Share Time": int(live.now) if acc else 0,
                         "Diff1 Shares": acc, "Proxy Type": "", "Proxy": "",
                         "Difficulty Accepted": acc * POOL_DIFFICULTY,
                         "Difficulty Rejected": rej * POOL_DIFFICULTY, "Difficulty Stale": 0.0,
                         "Last Share Difficulty": POOL_DIFFICULTY,
                         "Has Stratum": True, "Stratum Active": pool is active and not down,
                         "Stratum URL": pool.url.split("//")[-1].split(":")[0],
                         "Stratum Difficulty": POOL_DIFFICULTY, "Best Share": acc * 3,
                         "Pool Rejected%": 0.0, "Pool Stale%%": 0.0, "Bad Work": 0,
                         "Current Block Height": 870000})  # fmt: skip
        return rows

    # -- writes ------------------------------------------------------------------------------

    def write(self, req: dict[str, Any]) -> dict[str, Any]:
        """Decrypt, check the token, run the command; the answer encrypted (errors before
        decryption succeeded go back in clear, as btminer does)."""
        aes = crypto.aes_key(crypto.password_key(self.password, self.salt))
        data = req.get("data")
        try:
            if not isinstance(data, str):
                raise ValueError("no data")
            cmd = _decode(crypto.decrypt(aes, data))
        except (ValueError, msgspec.DecodeError):
            return self.status(137, "base64 decode error", "E")
        if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
            return self.status(14, "invalid cmd", "E")
        now = self.clock()
        if not self.token_ok(cmd.get("token"), now):
            return self.status(135, "check token err", "E")
        result = run_v2_write(self, cmd["cmd"], cmd)
        return {"enc": crypto.encrypt(aes, _encode(result))}


class BtminerProtocol(asyncio.Protocol):
    """One API 2.x connection: read one request, answer once (or not, per fault), close."""

    __slots__ = ("_buf", "_sim", "_transport")

    def __init__(self, sim: WhatsminerSim) -> None:
        """Serve ``sim``."""
        self._sim = sim
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept unless the device refuses (fault or reboot downtime)."""
        if self._sim.admit(transport) and isinstance(transport, asyncio.Transport):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Answer once the request is a complete JSON object."""
        self._buf += data
        self._serve(eof=False)

    def eof_received(self) -> bool:
        """A client that half-closes gets the answer to what it sent."""
        self._serve(eof=True)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop tracking the connection."""
        if self._transport is not None:
            self._sim.forget(self._transport)
            self._transport = None

    def _serve(self, eof: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        fault = self._sim.faults.fault
        if fault is Fault.HANG:
            self._sim.hold(transport)
            return
        if fault is Fault.REFUSE:
            self._sim.admit(transport)  # resets it
            return
        reply = self._sim.answer(self._buf, eof)
        if reply is None:
            return
        transport.write(GARBAGE_BYTES if fault is Fault.GARBAGE else reply)
        transport.close()


@dataclass
class WhatsminerHost:
    """Serves many simulated Whatsminers: each has its own listeners (4028, 4433)."""

    sims: list[WhatsminerSim] = field(default_factory=list)

    async def add(self, sim: SimDevice) -> None:
        """Open ``sim``'s listeners; ``OSError`` if an address is taken."""
        if not isinstance(sim, WhatsminerSim):
            raise TypeError(f"{type(sim).__name__} is not a WhatsminerSim")
        await sim.start()
        self.sims.append(sim)

    async def close(self) -> None:
        """Stop every device added."""
        for sim in self.sims:
            await sim.stop()
        self.sims.clear()


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> WhatsminerSim:
    """One simulated Whatsminer (the registry's factory)."""
    return WhatsminerSim(address, model=model or DEFAULT_MODEL, seed=seed, clock=clock)


FAMILY = SimFamily(family="whatsminer", models=tuple(PRESETS), create=create, host=WhatsminerHost)
