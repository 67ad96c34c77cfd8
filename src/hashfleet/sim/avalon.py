"""A simulated Canaan Avalon miner: cgminer 4.11.1's API on TCP 4028, in both encodings.

A request that starts with ``{`` is cgminer JSON (``{"command": "summary+estats"}``) and is
answered in JSON; anything else is the plain-text API (``summary``, ``ascset|0,led,1-1``)
and is answered as ``STATUS=S,When=…,Code=…,Msg=…,Description=cgminer 4.11.1|SUMMARY,…|``,
with ``,``, ``=``, ``|`` and ``\\`` inside values escaped by a backslash as cgminer does.
Everything Avalon-specific lives in ``estats``: the ``MM ID0`` string of ``KEY[value]``
fields (lists are space-separated: ``PVT_T0[61 62 …]``). Newer firmware (the 1366 preset)
splits it into ``MM ID0:Summary`` and ``HBinfo``, which real clients must also read.

Controls are ``ascset`` subcommands: ``0,workmode,set,N``, ``0,softoff,1:<ts>`` /
``0,softon,1:<ts>`` (the switch happens at ``ts`` on the device's clock, at once if past),
``0,reboot,0``, ``0,led,<mm>-<0|1>``, ``0,setpool,<user>,<pass>,<n>,<url>,<worker>,<pw>``;
plus cgminer's ``restart``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hashfleet.sim.base import Clock, Listener, ShareCounter, SimDevice, noise, wobble
from hashfleet.sim.faults import GARBAGE_BYTES, Fault
from hashfleet.sim.registry import SimFamily

RPC_PORT = 4028
DESCRIPTION = "cgminer 4.11.1"
POOL_DIFFICULTY = 65536.0
POOL_SLOTS = 3  # Avalon firmware keeps exactly three pool slots
AUTO_FAN_DUTY = 67  # FanR while the firmware runs the fans (nameplate rpm)
_REQUEST_LIMIT = 65536
_JOINABLE = frozenset({"version", "summary", "estats", "stats", "pools", "devs", "devdetails"})

_encode = msgspec.json.encode
_decode = msgspec.json.decode


@dataclass(frozen=True, slots=True)
class Preset:
    """Nameplate figures and firmware identity of one model."""

    model: str  # "Avalon 1246"
    prod: str  # VERSION.PROD
    code: str  # VERSION.MODEL
    hwtype: str
    swtype: str
    firmware: str  # VERSION.VERSION
    hashrate_ths: float  # at the best work mode
    power_w: float
    boards: int
    chips: int  # per board
    fans: int
    fan_rpm: int
    freq: int
    workmodes: tuple[float, ...]  # hashrate factor of each WORKMODE index
    default_mode: int
    split_estats: bool = False  # "MM ID0:Summary" + "HBinfo" (newer firmware)


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("Avalon 1246", "AvalonMiner 1246-90", "1246-90", "MM4v2_X3", "MM314",
               "21042001_4ec6bb0_c2fd1e6", 90.0, 3420.0, 3, 120, 4, 5400, 550,
               (1.0, 1.08), 0),
        Preset("Avalon 1366", "AvalonMiner 1366-118", "1366-118", "MM4v4_X3", "MM324",
               "23090601_f3c1c2b_6ae1d47", 118.0, 3300.0, 3, 114, 4, 5200, 480,
               (1.0, 1.1), 0, split_estats=True),
        Preset("Avalon Nano 3", "AvalonNano", "Nano3", "N_MM1v1_X1", "MM1v1_X1",
               "24052401_4ec6bb0_61407fa", 4.0, 140.0, 1, 10, 1, 2600, 600,
               (0.5, 0.75, 1.0), 2),
    )
}  # fmt: skip
DEFAULT_MODEL = "Avalon 1246"


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
    ideal: float  # GH/s, the whole miner at the current work mode
    chip_temps: list[list[int]]
    env: int
    fans: list[int]
    power_in: int
    power_out: int

    @property
    def total(self) -> float:
        """GH/s of all boards."""
        return sum(self.rates)


class AvalonSim(SimDevice):
    """One simulated Avalon: state, drifting values and the cgminer replies."""

    family = "avalon"

    def __init__(
        self,
        address: str,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        port: int = RPC_PORT,
        clock: Clock = time.time,
        reboot_downtime: float = 0.0,
        wallpower: bool = True,
    ) -> None:
        """An Avalon of ``model`` (a key of :data:`PRESETS`); ``wallpower=False`` leaves the
        ``WALLPOWER`` field out, as firmware before 2022 does (power is then only in ``PS``)."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.preset = p = PRESETS[model]
        self.reboot_downtime = reboot_downtime
        self.wallpower = wallpower
        self.workmode = p.default_mode
        self.led = False
        self.fan_spd = -1  # ascset fan-spd: -1 automatic, else a fixed duty 15-100 %
        self.admin = ("root", "root")  # the web login setpool checks
        # (time, off) switches from softoff/softon; the last one due decides.
        self.switches: list[tuple[float, bool]] = []
        self.dead_board = seed % p.boards
        octets = [int(x) for x in address.split(".")]
        self.mac = "b4a2eb{:02x}{:02x}{:02x}".format(*octets[1:])
        rng = random.Random(seed * 6151 + 3)
        self.dna = "0201" + "".join(rng.choice("0123456789abcdef") for _ in range(12))
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
        self.listeners.append(Listener(address, port, lambda: AvalonProtocol(self)))

    # -- state ---------------------------------------------------------------------------

    def _counter(self, now: float) -> ShareCounter:
        rate = self.preset.hashrate_ths * 1e12 / (POOL_DIFFICULTY * 2**32)
        return ShareCounter(rate, 0.001, now)

    @property
    def model(self) -> str:
        """The preset's model name."""
        return self.preset.model

    def thing_opts(self) -> dict[str, object]:
        """Driver opts, with the web login ``setpool`` needs."""
        opts = super().thing_opts()
        opts["username"], opts["password"] = self.admin
        return opts

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus mode, LED and pools."""
        out = super().info()
        now = self.clock()
        out.update(workmode=self.workmode, soft_off=self.soft_off(now), led=self.led,
                   fan_spd=self.fan_spd, pools=[p.url for p in self.pools])  # fmt: skip
        return out

    def fan_duty(self, off: bool) -> int:
        """The fans' duty in percent (estats ``FanR``)."""
        if self.fan_spd != -1:
            return self.fan_spd
        return 38 if off else AUTO_FAN_DUTY

    def soft_off(self, now: float) -> bool:
        """Whether the miner is switched off (``softoff``) at ``now``."""
        due = [off for at, off in self.switches if at <= now]
        return due[-1] if due else False

    def active_pool(self) -> SimPool | None:
        """The first slot with a URL: Avalon mines on the first pool that works."""
        return next((p for p in self.pools if p.url), None)

    def _sync(self, now: float) -> None:
        active = self.active_pool()
        mining = self.faults.fault is not Fault.POOL_DOWN and not self.soft_off(now)
        for pool in self.pools:
            pool.counter.set_running(now, mining and pool is active)

    def _faults_changed(self, now: float) -> None:
        self._sync(now)

    def _restarted(self, now: float) -> None:
        for pool in self.pools:
            pool.counter.reset(now)
        self._sync(now)

    def live(self, now: float) -> Live:
        """Drifting values at ``now``."""
        p, seed, fault = self.preset, self.seed, self.faults.fault
        off = self.soft_off(now)
        hot = fault is Fault.OVERHEAT
        factor = p.workmodes[self.workmode]
        ideal = p.hashrate_ths * 1000.0 * factor
        rates: list[float] = []
        temps: list[list[int]] = []
        for b in range(p.boards):
            if off or (fault is Fault.DEAD_BOARD and b == self.dead_board):
                rates.append(0.0)
                temps.append([0] * p.chips)
                continue
            rate = ideal / p.boards * (1.0 + 0.015 * wobble(seed, 20 + b, now, 240.0))
            rates.append(rate * 0.95 if hot else rate)
            base = 62.0 + 2 * b + 3.0 * wobble(seed, 10 + b, now, 420.0) + (38.0 if hot else 0)
            temps.append([int(base + 6 * noise(seed, 100 * b + c, 0)) for c in range(p.chips)])
        env = int(24 + 2 * wobble(seed, 5, now, 900.0))
        rpm = p.fan_rpm * (0.4 if off else 1.0) + (1200 if hot else 0)
        if self.fan_spd != -1:  # a fixed duty: the automatic one (67 %) is the nameplate rpm
            rpm = p.fan_rpm * self.fan_spd / AUTO_FAN_DUTY
        fans = [int(rpm + 90 * wobble(seed, 30 + f, now, 600.0)) for f in range(p.fans)]
        if off:
            power_in = int(p.power_w * 0.01 + 8)
        else:
            load = sum(rates) / ideal
            power_in = int(p.power_w * factor**1.5 * load + 15 * wobble(seed, 40, now, 180.0))
        power_out = int(power_in * 0.955)
        elapsed = self.uptime(now)
        return Live(now, elapsed, off, rates, ideal, temps, env, fans, power_in, power_out)

    # -- the API ---------------------------------------------------------------------------

    def answer(self, buf: bytes, eof: bool) -> bytes | None:
        """The bytes to send for request ``buf``, or ``None`` while it is incomplete."""
        text = buf.strip(b"\x00 \r\n\t")
        if not text:
            return None if not eof else self._json(self._status(23, "Invalid JSON", "E"))
        if text[:1] != b"{":
            name, _, arg = text.decode("latin-1").partition("|")
            name = name.strip()
            if name == "restart":
                self.restart(self.reboot_downtime)
                return b"RESTART|\x00"
            return to_text(self._one(name, arg or None, None))
        try:
            req = _decode(text)
        except msgspec.DecodeError as exc:
            if "truncated" in str(exc) and not eof and len(text) < _REQUEST_LIMIT:
                return None
            return self._json(self._status(23, "Invalid JSON", "E"))
        if not isinstance(req, dict) or not isinstance(req.get("command"), str):
            return self._json(self._status(24, "Missing JSON 'command'", "E"))
        cmd: str = req["command"]
        param = req.get("parameter")
        if cmd == "restart":
            self.restart(self.reboot_downtime)
            return self._json({"STATUS": "RESTART", "id": 1})
        if "+" in cmd:
            parts = list(dict.fromkeys(cmd.split("+")))
            bad = next((c for c in parts if c not in _JOINABLE), None)
            if bad is not None:
                return self._json(self._status(45, f"Access denied to '{bad}' command", "E"))
            live = self.live(self.clock())
            joined: dict[str, Any] = {c: [self._one(c, None, live)] for c in parts}
            joined["id"] = 1
            return self._json(joined)
        return self._json(self._one(cmd, None if param is None else str(param), None))

    def _json(self, reply: dict[str, Any]) -> bytes:
        return _encode(reply) + b"\x00"

    def _status(
        self, code: int, msg: str, status: str = "S", section: str = "", rows: Any = None
    ) -> dict[str, Any]:
        entry = {"STATUS": status, "When": int(self.clock()), "Code": code, "Msg": msg,
                 "Description": DESCRIPTION}  # fmt: skip
        out: dict[str, Any] = {"STATUS": [entry]}
        if section:
            out[section] = rows
        out["id"] = 1
        return out

    def _one(self, cmd: str, param: str | None, live: Live | None) -> dict[str, Any]:
        if cmd == "ascset":
            return self._ascset(param or "")
        if cmd == "version":
            return self._version()
        if cmd == "pools":
            return self._pools()
        if cmd == "devdetails":
            row = {"DEVDETAILS": 0, "Name": "AVA10", "ID": 0, "Driver": "avalon",
                   "Kernel": "", "Model": "", "Device Path": ""}  # fmt: skip
            return self._status(69, "Device Details", section="DEVDETAILS", rows=[row])
        if cmd not in ("summary", "estats", "stats", "devs"):
            return self._status(14, "Invalid command", "E")
        live = live or self.live(self.clock())
        if cmd == "summary":
            return self._summary(live)
        if cmd == "devs":
            return self._devs(live)
        return self._stats(live)

    def _version(self) -> dict[str, Any]:
        p = self.preset
        row = {"CGMiner": "4.11.1", "API": "3.7", "STM8": "20.08.01", "PROD": p.prod,
               "MODEL": p.code, "HWTYPE": p.hwtype, "SWTYPE": p.swtype, "VERSION": p.firmware,
               "LOADER": "d0d779de.00", "DNA": self.dna, "MAC": self.mac, "UPAPI": "2"}  # fmt: skip
        return self._status(22, "CGMiner versions", section="VERSION", rows=[row])

    def _shares(self, now: float) -> tuple[int, int]:
        acc = sum(p.counter.accepted(now) for p in self.pools)
        return acc, sum(p.counter.rejected(now) for p in self.pools)

    def _mhs(self, live: Live) -> dict[str, float]:
        mhs = live.total * 1000.0
        jitter = 1.0 + 0.01 * noise(self.seed, 51, int(live.now))
        return {"MHS av": round(mhs * 0.998, 2), "MHS 5s": round(mhs * jitter, 2),
                "MHS 1m": round(mhs, 2), "MHS 5m": round(mhs * 0.999, 2),
                "MHS 15m": round(mhs * 0.998, 2)}  # fmt: skip

    def _summary(self, live: Live) -> dict[str, Any]:
        acc, rej = self._shares(live.now)
        row: dict[str, Any] = {"Elapsed": live.elapsed, **self._mhs(live), "Found Blocks": 0,
               "Getworks": live.elapsed // 30, "Accepted": acc, "Rejected": rej,
               "Hardware Errors": live.elapsed // 400, "Utility": 0.0, "Discarded": acc * 2,
               "Stale": 0, "Get Failures": 0, "Local Work": live.elapsed * 7,
               "Remote Failures": 0, "Network Blocks": live.elapsed // 600,
               "Total MH": round(live.total * 1000.0 * live.elapsed),
               "Difficulty Accepted": acc * POOL_DIFFICULTY,
               "Difficulty Rejected": rej * POOL_DIFFICULTY, "Difficulty Stale": 0.0,
               "Best Share": 10_000_000 + self.seed % 7919, "Device Hardware%": 0.0,
               "Device Rejected%": 0.0, "Pool Rejected%": 0.0, "Pool Stale%": 0.0,
               "Last getwork": int(live.now)}  # fmt: skip
        return self._status(11, "Summary", section="SUMMARY", rows=[row])

    def _devs(self, live: Live) -> dict[str, Any]:
        acc, rej = self._shares(live.now)
        row = {"ASC": 0, "Name": "AVA10", "ID": 0, "Enabled": "Y", "Status": "Alive",
               "Temperature": float(max(max(t) for t in live.chip_temps)), **self._mhs(live),
               "Accepted": acc, "Rejected": rej, "Hardware Errors": live.elapsed // 400,
               "Device Elapsed": live.elapsed}  # fmt: skip
        return self._status(9, "1 ASC(s)", section="DEVS", rows=[row])

    def mm_fields(self, live: Live) -> tuple[list[str], list[str]]:
        """The ``KEY[value]`` fields of the module: the summary ones and the per-board ones."""
        p = self.preset
        nonzero = [[t for t in b if t] for b in live.chip_temps]
        tmax = [max(b, default=0) for b in nonzero]
        tavg = [sum(b) // len(b) if b else 0 for b in nonzero]
        working = sum(1 for r in live.rates if r)
        state = "In Idle" if live.off else "In Work"
        ghs = live.total
        echu = [0 if r or live.off else 512 for r in live.rates]
        head = [
            f"Ver[{p.code}-{p.firmware}]", f"DNA[{self.dna}]", "MEMFREE[1395252.1432]",
            "NETFAIL[0 0 0 0 0 0 0 0]", f"SYSTEMSTATU[Work: {state}, Hash Board: {working}]",
            f"Elapsed[{live.elapsed}]", "BOOTBY[0x01.00000000]", f"LW[{live.elapsed * 371}]",
            "MH[0 0 0]", "DHW[0]", f"HW[{live.elapsed // 400}]", "DH[1.027%]",
            f"Temp[{live.env}]", f"TMax[{max(tmax)}]", f"TAvg[{max(tavg)}]",
            *(f"Fan{i}[{rpm}]" for i, rpm in enumerate(live.fans, 1)),
            f"FanR[{self.fan_duty(live.off)}%]", "Vo[" + " ".join(["2254"] * p.boards) + "]",
            f"PS[0 1213 2254 77 {live.power_out} 2254 {live.power_in}]",
            f"GHSspd[{ghs:.2f}]", f"GHSmm[{live.ideal:.2f}]", f"GHSavg[{ghs * 0.998:.2f}]",
            f"WU[{ghs * 13.97:.2f}]", f"Freq[{0 if live.off else p.freq}.00]",
            "MGHS[" + " ".join(f"{r:.2f}" for r in live.rates) + "]",
            "MTmax[" + " ".join(map(str, tmax)) + "]", "MTavg[" + " ".join(map(str, tavg)) + "]",
            f"TA[{p.chips * working}]", "ECHU[" + " ".join(map(str, echu)) + "]",
            f"ECMM[{512 if any(echu) else 0}]", "FM[1]", "CRC[" + " ".join(["0"] * p.boards) + "]",
            f"WORKMODE[{self.workmode}]", "WORKLEVEL[0]", f"MPO[{int(p.power_w * 1.05)}]",
            f"SoftOFF[{int(live.off)}]", f"Led[{int(self.led)}]",
        ]  # fmt: skip
        if self.wallpower:
            head.append(f"WALLPOWER[{live.power_in}]")
        boards = []
        for b, temps in enumerate(live.chip_temps):
            freq = 0 if not live.rates[b] else p.freq
            boards.append(f"PVT_T{b}[" + " ".join(map(str, temps)) + "]")
            boards.append(f"SF{b}[{freq - 24} {freq - 12} {freq} {freq + 12}]")
        return head, boards

    def _stats(self, live: Live) -> dict[str, Any]:
        head, boards = self.mm_fields(live)
        row: dict[str, Any] = {"STATS": 0, "ID": "AVA100", "Elapsed": live.elapsed, "Calls": 0,
                               "Wait": 0.0, "Max": 0.0, "Min": 99999999.0}  # fmt: skip
        if self.preset.split_estats:
            row["MM ID0:Summary"] = " ".join(head)
            row["HBinfo"] = "'HB0':{" + " ".join(boards) + "}"
        else:
            row["MM ID0"] = " ".join(head + boards)
        row.update({"MM Count": 1, "Smart Speed": 1, "Connecter": "AUC", "AUC VER": "AUC-20151208",
                    "AUC I2C Speed": 400000, "AUC I2C XDelay": 19200, "AUC Sensor": 15483,
                    "AUC Temperature": float(live.env + 3), "Connection Overloaded": False,
                    "Voltage Level Offset": 0, "Nonce Mask": 29})  # fmt: skip
        pool = {"STATS": 1, "ID": "POOL0", "Elapsed": live.elapsed, "Calls": 0, "Wait": 0.0,
                "Max": 0.0, "Min": 99999999.0, "Pool Calls": 0, "Pool Attempts": 0,
                "Pool Wait": 0.0, "Pool Max": 0.0, "Pool Min": 99999999.0, "Pool Av": 0.0,
                "Work Had Roll Time": False, "Work Can Roll": False, "Work Had Expire": False,
                "Work Roll Time": 0, "Work Diff": POOL_DIFFICULTY, "Min Diff": POOL_DIFFICULTY,
                "Max Diff": POOL_DIFFICULTY, "Min Diff Count": 1, "Max Diff Count": 1,
                "Times Sent": 0, "Bytes Sent": 0, "Times Recv": 0, "Bytes Recv": 0,
                "Net Bytes Sent": 0, "Net Bytes Recv": 0}  # fmt: skip
        return self._status(70, "CGMiner stats", section="STATS", rows=[row, pool])

    def _pools(self) -> dict[str, Any]:
        now = self.clock()
        active = self.active_pool()
        down = self.faults.fault is Fault.POOL_DOWN
        rows = []
        for n, pool in enumerate(self.pools):
            if not pool.url:
                continue
            acc, rej = pool.counter.accepted(now), pool.counter.rejected(now)
            current = pool is active and not down
            rows.append(
                {"POOL": n, "URL": pool.url, "Status": "Dead" if down else "Alive",
                 "Priority": n, "Quota": 1, "Long Poll": "N", "Getworks": acc // 3,
                 "Accepted": acc, "Rejected": rej, "Works": acc * 4, "Discarded": acc // 2,
                 "Stale": 0, "Get Failures": 0, "Remote Failures": 0, "User": pool.user,
                 "Last Share Time": int(now) - 3 if current else 0, "Diff1 Shares": acc * 4,
                 "Proxy Type": "", "Proxy": "", "Difficulty Accepted": acc * POOL_DIFFICULTY,
                 "Difficulty Rejected": rej * POOL_DIFFICULTY, "Difficulty Stale": 0.0,
                 "Last Share Difficulty": POOL_DIFFICULTY if current else 0.0,
                 "Work Difficulty": POOL_DIFFICULTY, "Has Stratum": True,
                 "Stratum Active": current,
                 "Stratum URL": pool.url.split("//", 1)[-1].rsplit(":", 1)[0] if current else "",
                 "Stratum Difficulty": POOL_DIFFICULTY, "Has Vmask": True, "Has GBT": False,
                 "Best Share": acc * 3, "Pool Rejected%": 0.0, "Pool Stale%": 0.0,
                 "Bad Work": 0, "Current Block Height": 871234, "Current Block Version": 536870912}
            )  # fmt: skip
        if not rows:
            return self._status(8, "No pools", "E")
        return self._status(7, f"{len(rows)} Pool(s)", section="POOLS", rows=rows)

    # -- ascset ----------------------------------------------------------------------------

    def _ascset(self, param: str) -> dict[str, Any]:
        parts = param.split(",")
        if len(parts) < 2 or parts[0].strip() != "0":
            return self._status(120, f"ASC {parts[0] or 0} set failed: invalid device", "E")
        opt, args = parts[1].strip(), parts[2:]
        now = self.clock()
        if opt == "workmode" and len(args) == 2 and args[0] == "set" and args[1].isdigit():
            mode = int(args[1])
            if mode >= len(self.preset.workmodes):
                return self._status(120, f"ASC 0 set failed: invalid workmode {mode}", "E")
            self.workmode = mode
            return self._status(119, "ASC 0 set OK")
        if opt in ("softoff", "softon") and len(args) == 1:
            _, _, stamp = args[0].partition(":")
            try:
                at = float(stamp) if stamp else now
            except ValueError:
                return self._status(120, f"ASC 0 set failed: invalid time {stamp}", "E")
            self.switches.append((at, opt == "softoff"))
            self.switches.sort(key=lambda s: s[0])
            self._sync(now)
            return self._status(118, f"ASC 0 set info: success {opt}:{int(at)}", "I")
        if opt == "fan-spd":
            # Canaan's cgminer: -1 hands the fans back to the firmware, 15-100 fixes the duty.
            try:
                value = int(args[0]) if len(args) == 1 else None
            except ValueError:
                value = None
            if value is None:
                return self._status(120, "ASC 0 set failed: No value passed to avalon-fan", "E")
            if value != -1 and not 15 <= value <= 100:
                return self._status(120, "ASC 0 set failed: invalid fan value, valid range "
                                    "15-100 for stable pwm,-1 for auto adjust", "E")  # fmt: skip
            self.fan_spd = value
            return self._status(119, "ASC 0 set OK")
        if opt == "reboot":
            # This connection is already admitted, so the reply still goes out; new ones are
            # refused for the downtime and uptime starts from 0.
            self.restart(self.reboot_downtime)
            return self._status(118, "ASC 0 set info: success reboot", "I")
        if opt == "led" and len(args) == 1 and args[0][-1:] in ("0", "1"):
            self.led = args[0].endswith("1")
            return self._status(119, "ASC 0 set OK")
        if opt == "setpool" and len(args) == 6:
            return self._setpool(*args)
        return self._status(120, f"ASC 0 set failed: invalid option {opt}", "E")

    def _setpool(
        self, user: str, password: str, slot: str, url: str, worker: str, worker_pw: str
    ) -> dict[str, Any]:
        if (user, password) != self.admin:
            return self._status(120, "ASC 0 set failed: wrong user or password", "E")
        if not slot.isdigit() or int(slot) >= POOL_SLOTS:
            return self._status(120, f"ASC 0 set failed: invalid pool {slot}", "E")
        now = self.clock()
        self.pools[int(slot)] = SimPool(url, worker, worker_pw, self._counter(now))
        self._sync(now)
        return self._status(118, f"ASC 0 set info: success setpool {slot}", "I")


def _escape(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    for ch in ("\\", ",", "=", "|"):
        text = text.replace(ch, "\\" + ch)
    return text


def to_text(reply: dict[str, Any]) -> bytes:
    """cgminer's text encoding: ``STATUS=S,When=…|SECTION,key=value,…|``, NUL-terminated."""
    parts = []
    for section, items in reply.items():
        if section == "id" or not isinstance(items, list):
            continue
        for item in items:
            fields = ",".join(f"{k}={_escape(v)}" for k, v in item.items())
            first = next(iter(item), "")
            named = first in (section, section[:-1])  # rows that start with their own id
            parts.append(fields if named else f"{section},{fields}")
    return ("|".join(parts) + "|").encode() + b"\x00"


class AvalonProtocol(asyncio.Protocol):
    """One API connection: read one request, answer once (or not, per fault), close."""

    __slots__ = ("_buf", "_sim", "_transport")

    def __init__(self, sim: AvalonSim) -> None:
        """Serve ``sim``."""
        self._sim = sim
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept unless the device refuses (fault or reboot downtime)."""
        if self._sim.admit(transport) and isinstance(transport, asyncio.Transport):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Answer once the request is complete (text requests are complete at once)."""
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
class AvalonHost:
    """Serves many simulated Avalons: each has its own listener on port 4028."""

    sims: list[AvalonSim] = field(default_factory=list)

    async def add(self, sim: SimDevice) -> None:
        """Open ``sim``'s listener; ``OSError`` if the address is taken."""
        if not isinstance(sim, AvalonSim):
            raise TypeError(f"{type(sim).__name__} is not an AvalonSim")
        await sim.start()
        self.sims.append(sim)

    async def close(self) -> None:
        """Stop every device added."""
        for sim in self.sims:
            await sim.stop()
        self.sims.clear()


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> AvalonSim:
    """One simulated Avalon (the registry's factory)."""
    return AvalonSim(address, model=model or DEFAULT_MODEL, seed=seed, clock=clock)


FAMILY = SimFamily(family="avalon", models=tuple(PRESETS), create=create, host=AvalonHost)
