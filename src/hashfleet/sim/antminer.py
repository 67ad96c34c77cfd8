"""A simulated Antminer on stock (bmminer) firmware: the cgminer JSON API on TCP 4028.

One request per connection; the reply is one JSON object, NUL-terminated, then the
connection is closed, as bmminer does. Commands joined with ``+`` answer one object keyed
by command, each value a one-element list holding the usual reply. Replies avoid every
substring pyasic matches before "ANTMINER" (BOSminer, BTMiner, LUXminer, …) so that real
clients identify the device as the Antminer model of its preset.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from hashfleet.sim import antminer_web as web
from hashfleet.sim.base import Clock, Listener, ShareCounter, SimDevice, noise, wobble
from hashfleet.sim.faults import GARBAGE_BYTES, Fault

RPC_PORT = 4028
DESCRIPTION = "bmminer 1.0.0"
POOL_DIFFICULTY = 65536.0
MAX_POOLS = 8
_REQUEST_LIMIT = 65536
WORK_NORMAL, WORK_SLEEP = 0, 1  # bitmain-work-mode values the simulator models

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_SPLIT_PARAM = re.compile(r"(?<!\\),")


@dataclass(frozen=True, slots=True)
class Preset:
    """Nameplate figures of one model."""

    model: str
    hashrate_ths: float
    power_w: float
    chips: int
    freq: int
    fan_rpm: int
    miner: str
    compile_time: str
    boards: int = 3
    fans: int = 4


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("Antminer S19j Pro", 104.0, 3068.0, 126, 525, 5880, "uart_trans.1.3",
               "Mon Nov 29 16:50:09 CST 2021"),
        Preset("Antminer S19 Pro", 110.0, 3250.0, 114, 675, 6120, "49.0.1.3",
               "Fri Aug 26 17:49:52 CST 2022"),
        Preset("Antminer S21", 200.0, 3500.0, 108, 490, 4560, "uart_trans.1.3",
               "Tue Nov 14 11:02:45 CST 2023"),
    )
}  # fmt: skip
DEFAULT_MODEL = "Antminer S19j Pro"


@dataclass(slots=True)
class SimPool:
    """One configured pool of the simulated miner."""

    url: str
    user: str
    password: str
    prio: int
    counter: ShareCounter
    enabled: bool = True


@dataclass(slots=True)
class Live:
    """Values of one instant, computed once per request and shared by joined commands."""

    now: float
    elapsed: int
    rates: list[float]  # GH/s per board
    ideal_board: float
    chips: list[int]
    pcb: list[list[int]]
    chip: list[list[int]]
    fans: list[int]
    power: float

    @property
    def total(self) -> float:
        """Sum of the boards' rates (GH/s)."""
        return sum(self.rates)


class AntminerSim(SimDevice):
    """One simulated stock Antminer: state, drifting values and the cgminer replies."""

    family = "antminer"

    def __init__(
        self,
        address: str,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        port: int = RPC_PORT,
        clock: Clock = time.time,
        joined: bool = True,
        reboot_downtime: float = 0.0,
    ) -> None:
        """A miner of ``model`` (a key of :data:`PRESETS`); ``joined=False`` rejects ``a+b``."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.preset = PRESETS[model]
        self.joined = joined
        self.reboot_downtime = reboot_downtime
        self.blink = False
        self.work_mode = WORK_NORMAL  # saved bitmain-work-mode: 0 normal, 1 sleep
        self.dead_board = seed % self.preset.boards
        octets = [int(x) for x in address.split(".")]
        # Locally administered MAC derived from the address, stable across runs.
        self.mac = "02:00:{:02X}:{:02X}:{:02X}:{:02X}".format(*octets)
        rng = random.Random(seed * 7919 + 17)
        alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        self.serial = "JYZZ" + "".join(rng.choice(alphabet) for _ in range(13))
        self.hostname = "Antminer"
        self.share_rate = self.preset.hashrate_ths * 1e12 / (POOL_DIFFICULTY * 2**32)
        now = self.clock()
        worker = "fleet." + address.replace(".", "x")
        urls = (
            "stratum+tcp://btc.pool.example.net:3333",
            "stratum+tcp://btc-backup.pool.example.net:443",
            "stratum+tcp://btc-eu.pool.example.net:25",
        )
        # The saved configuration (what the web UI writes): a restart mines on these again,
        # while cgminer's addpool/removepool only change the running process.
        self.saved_pools = [(url, worker, "x") for url in urls]
        self._load_pools(self.saved_pools, now)
        self.pools[0].counter.banked = self.uptime(now) * self.share_rate
        self._sync_pools(now)
        self.listeners.append(Listener(address, port, lambda: RpcProtocol(self)))

    # -- state ---------------------------------------------------------------------------

    def active_pool(self) -> SimPool | None:
        """The pool mining now: the enabled one of best (lowest) priority."""
        enabled = [p for p in self.pools if p.enabled]
        return min(enabled, key=lambda p: p.prio) if enabled else None

    @property
    def sleeping(self) -> bool:
        """Whether the saved work mode is sleep (boards idle, no shares)."""
        return self.work_mode == WORK_SLEEP

    def _sync_pools(self, now: float) -> None:
        active = self.active_pool()
        alive = self.faults.fault is not Fault.POOL_DOWN and not self.sleeping
        for pool in self.pools:
            pool.counter.set_running(now, alive and pool is active)

    def _faults_changed(self, now: float) -> None:
        self._sync_pools(now)

    def _restarted(self, now: float) -> None:
        if [(p.url, p.user, p.password) for p in self.pools] != self.saved_pools:
            self._load_pools(self.saved_pools, now)
        for pool in self.pools:
            pool.counter.reset(now)
        self._sync_pools(now)

    def _load_pools(self, pools: list[tuple[str, str, str]], now: float) -> None:
        self.pools = [
            SimPool(url, user, password, i, ShareCounter(self.share_rate, 0.0008, now))
            for i, (url, user, password) in enumerate(pools)
        ]

    def save_conf(self, pools: list[tuple[str, str, str]] | None, work_mode: int | None) -> None:
        """``set_miner_conf.cgi``: save pools and work mode; the firmware then restarts its
        mining process (counters and uptime from 0). Saved values survive restarts."""
        now = self.clock()
        if pools:
            self.saved_pools = pools[:3]
        if work_mode is not None:
            self.work_mode = work_mode
        # A process restart, not a reboot: the web UI stays up and ``reboots`` is unchanged.
        self.boot_at = now
        self._restarted(now)

    @property
    def model(self) -> str:
        """The preset's model name."""
        return self.preset.model

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus pools."""
        out = super().info()
        out["pools"] = [p.url for p in self.pools]
        out.update(work_mode="sleep" if self.sleeping else "normal", blink=self.blink)
        return out

    def live(self, now: float) -> Live:
        """Drifting values at ``now``: per-board rates and temperatures, fans, power."""
        p, seed, fault = self.preset, self.seed, self.faults.fault
        if self.sleeping:
            return web.idle_live(self, now)
        hot = fault is Fault.OVERHEAT
        ideal = p.hashrate_ths * 1000.0 / p.boards
        rates, chips, pcbs, chip_temps = [], [], [], []
        for b in range(p.boards):
            if fault is Fault.DEAD_BOARD and b == self.dead_board:
                rates.append(0.0)
                chips.append(0)
                pcbs.append([0, 0, 0, 0])
                chip_temps.append([0, 0, 0, 0])
                continue
            rate = ideal * (1.0 + 0.012 * wobble(seed, 20 + b, now, 240.0))
            rates.append(rate * 0.97 if hot else rate)
            chips.append(p.chips)
            inlet = 42.0 + 2 * b + 2.5 * wobble(seed, 10 + b, now, 420.0) + (30.0 if hot else 0.0)
            pcb = [round(inlet), round(inlet + 1), round(inlet + 14), round(inlet + 15)]
            pcbs.append(pcb)
            chip_temps.append([t + 15 for t in pcb])
        # Fans work in pairs (intake, exhaust) and report in steps of 60 rpm.
        fan_base = p.fan_rpm + (900 if hot else 0)
        fans = [
            int(fan_base + 120 * wobble(seed, 30 + f // 2, now, 600.0)) // 60 * 60
            for f in range(p.fans)
        ]
        power = p.power_w * sum(rates) / (ideal * p.boards) + 12.0 * wobble(seed, 40, now, 180.0)
        return Live(now, self.uptime(now), rates, ideal, chips, pcbs, chip_temps, fans, power)

    # -- the RPC -------------------------------------------------------------------------

    def answer(self, buf: bytes, eof: bool) -> bytes | None:
        """The bytes to send for request ``buf``, or ``None`` while it is incomplete."""
        text = buf.strip(b"\x00 \r\n\t")
        if not text:
            return None if not eof else self._encode_reply(self._status(23, "Invalid JSON", "E"))
        if text[:1] != b"{":
            # cgminer's plain-text mode: "command|parameter", answered in text.
            name, _, arg = text.decode("latin-1").partition("|")
            if name.strip() == "restart":
                self.restart(self.reboot_downtime)
                return b"RESTART\x00"
            return _to_text(self._one(name.strip(), arg or None, False, None))
        try:
            req = _decode(text)
        except msgspec.DecodeError as exc:
            if "truncated" in str(exc) and not eof and len(text) < _REQUEST_LIMIT:
                return None
            return self._encode_reply(self._status(23, "Invalid JSON", "E"))
        if not isinstance(req, dict) or "command" not in req:
            return self._encode_reply(self._status(24, "Missing JSON 'command'", "E"))
        cmd = req["command"]
        if not isinstance(cmd, str) or not cmd:
            return self._encode_reply(self._status(14, "Invalid command", "E"))
        raw_param = req.get("parameter")
        param = None if raw_param is None else str(raw_param)
        new_api = req.get("new_api") is True
        if cmd == "restart":
            # cgminer's literal reply, not valid JSON; the restart happens after it is sent.
            self.restart(self.reboot_downtime)
            return b'{"RESTART","id":1}\x00'
        if "+" in cmd:
            return self._encode_reply(self._joined(cmd))
        return self._encode_reply(self._one(cmd, param, new_api, None))

    def _encode_reply(self, reply: dict[str, Any]) -> bytes:
        return _encode(reply) + b"\x00"

    def _status(
        self, code: int, msg: str, status: str = "S", section: str = "", rows: Any = None
    ) -> dict[str, Any]:
        """A reply in cgminer's order: ``STATUS``, then the section, then ``id``."""
        when = int(self.clock())
        entry = {"STATUS": status, "When": when, "Code": code, "Msg": msg}
        entry["Description"] = DESCRIPTION
        out: dict[str, Any] = {"STATUS": [entry]}
        if section:
            out[section] = rows
        out["id"] = 1
        return out

    def _joined(self, cmd: str) -> dict[str, Any]:
        if not self.joined:
            return self._status(14, "Invalid command", "E")
        parts = list(dict.fromkeys(cmd.split("+")))  # cgminer skips duplicates
        for part in parts:
            if part in _WRITE_COMMANDS or part == "restart":
                return self._status(45, f"Access denied to '{part}' command", "E")
        live = self.live(self.clock())
        out: dict[str, Any] = {part: [self._one(part, None, False, live)] for part in parts}
        out["id"] = 1
        return out

    def _one(self, cmd: str, param: str | None, new_api: bool, live: Live | None) -> dict[str, Any]:
        if cmd in _WRITE_COMMANDS:
            return _WRITE_COMMANDS[cmd](self, param)
        if cmd == "version":
            return self._version()
        if cmd == "pools":
            return web.pools_cgi(self) if new_api else self._pools_reply()
        if cmd == "devdetails":
            # Stock firmware refuses it; this also keeps pyasic's devdetails probe neutral.
            return self._status(45, "Access denied to 'devdetails' command", "E")
        if cmd not in ("summary", "stats", "devs"):
            return self._status(14, "Invalid command", "E")
        live = live or self.live(self.clock())
        if cmd == "summary":
            return web.summary_cgi(self, live) if new_api else self._summary(live)
        if cmd == "stats":
            return web.stats_cgi(self, live) if new_api else self._stats(live)
        return self._devs(live)

    def _version(self) -> dict[str, Any]:
        p = self.preset
        row = {"BMMiner": "1.0.0", "API": "3.1", "Miner": p.miner, "CompileTime": p.compile_time,
               "Type": p.model}  # fmt: skip
        return self._status(22, "BMMiner versions", section="VERSION", rows=[row])

    def share_totals(self, now: float) -> tuple[int, int]:
        """Accepted and rejected shares over every pool since the last restart."""
        acc = sum(pool.counter.accepted(now) for pool in self.pools)
        rej = sum(pool.counter.rejected(now) for pool in self.pools)
        return acc, rej

    def _summary(self, live: Live) -> dict[str, Any]:
        now, elapsed = live.now, live.elapsed
        acc, rej = self.share_totals(now)
        ghs5s = live.total * (1.0 + 0.004 * noise(self.seed, 50, int(now)))
        ghs_av = live.total * 0.998
        minutes = max(elapsed / 60.0, 1 / 60)
        rows = [
            {"Elapsed": elapsed, "GHS 5s": round(ghs5s, 2), "GHS av": round(ghs_av, 2),
             "GHS 30m": round(ghs_av, 2), "Found Blocks": 0, "Getworks": elapsed // 30,
             "Accepted": acc, "Rejected": rej, "Hardware Errors": elapsed // 97,
             "Utility": round(acc / minutes, 2), "Discarded": elapsed * 2 // 3,
             "Stale": acc // 5000, "Get Failures": 0, "Local Work": elapsed * 41,
             "Remote Failures": 0, "Network Blocks": elapsed // 600,
             "Total MH": round(ghs_av * 1000.0 * elapsed, 0),
             "Work Utility": round(acc * POOL_DIFFICULTY / minutes, 2),
             "Difficulty Accepted": acc * POOL_DIFFICULTY,
             "Difficulty Rejected": rej * POOL_DIFFICULTY, "Difficulty Stale": 0.0,
             "Best Share": 1_000_000 + (self.seed % 9973) * elapsed,
             "Device Hardware%": 0.0001, "Device Rejected%": round(100.0 * rej / max(acc, 1), 4),
             "Pool Rejected%": round(100.0 * rej / max(acc + rej, 1), 4), "Pool Stale%": 0.0,
             "Last getwork": int(now)}
        ]  # fmt: skip
        return self._status(11, "Summary", section="SUMMARY", rows=rows)

    def _stats(self, live: Live) -> dict[str, Any]:
        p = self.preset
        data: dict[str, Any] = {
            "STATS": 0, "ID": "BC50", "Elapsed": live.elapsed, "Calls": 0, "Wait": 0.0,
            "Max": 0.0, "Min": 99999999.0, "GHS 5s": round(live.total, 2),
            "GHS av": round(live.total * 0.998, 2), "miner_count": p.boards, "frequency": "",
            "fan_num": p.fans,
        }  # fmt: skip
        for f, rpm in enumerate(live.fans, 1):
            data[f"fan{f}"] = rpm
        data["temp_num"] = p.boards
        for b in range(p.boards):
            i, pcb, chip = b + 1, live.pcb[b], live.chip[b]
            data[f"temp{i}"] = pcb[0]
            data[f"temp2_{i}"] = chip[2]
            data[f"temp3_{i}"] = chip[3]
            data[f"temp_pcb{i}"] = "-".join(map(str, pcb))
            data[f"temp_chip{i}"] = "-".join(map(str, chip))
            data[f"temp_pic{i}"] = "-".join(str(t - 5 if t else 0) for t in chip)
        data["total_rateideal"] = round(live.ideal_board * p.boards, 2)
        data["total_freqavg"] = p.freq
        data["total_acn"] = sum(live.chips)
        data["total_rate"] = round(live.total, 2)
        for b in range(p.boards):
            i = b + 1
            data[f"chain_rateideal{i}"] = round(live.ideal_board, 2)
            data[f"chain_acn{i}"] = live.chips[b]
            data[f"chain_acs{i}"] = web.acs_string(live.chips[b])
            # bmminer sends per-chain rates as strings.
            data[f"chain_rate{i}"] = f"{live.rates[b]:.2f}"
            data[f"chain_hw{i}"] = live.elapsed // 291 if live.chips[b] else 0
            data[f"freq{i}"] = p.freq if live.chips[b] else 0
        # Not every stock build reports it; Hiveon-style "<watts> W" feeds the power totals.
        data["chain_power"] = f"{live.power:.2f} W"
        data["rate_unit"] = "GH"
        # The saved work mode, as stats.cgi names it: 0 normal, 1 sleep.
        data["miner-mode"] = self.work_mode
        data["miner_version"] = p.miner
        data["miner_id"] = f"{self.seed & 0xFFFFFFFFFFFF:012x}c4d0"
        head = {"BMMiner": "1.0.0", "Miner": p.miner, "CompileTime": p.compile_time}
        head["Type"] = p.model
        return self._status(70, "BMMiner stats", section="STATS", rows=[head, data])

    def _devs(self, live: Live) -> dict[str, Any]:
        devs = []
        for b, rate in enumerate(live.rates):
            alive = live.chips[b] > 0
            devs.append(
                {"ASC": b, "Name": "BC50", "ID": b, "Enabled": "Y",
                 "Status": "Alive" if alive else "Dead", "Temperature": max(live.chip[b]),
                 "MHS av": round(rate * 1000.0, 2), "MHS 5s": round(rate * 1000.0, 2),
                 "Hardware Errors": live.elapsed // 291 if alive else 0,
                 "Device Elapsed": live.elapsed}
            )  # fmt: skip
        return self._status(9, f"{len(devs)} ASC(s)", section="DEVS", rows=devs)

    def pool_status(self, pool: SimPool) -> str:
        """cgminer's pool status word."""
        if not pool.enabled:
            return "Disabled"
        return "Dead" if self.faults.fault is Fault.POOL_DOWN else "Alive"

    def _pools_reply(self) -> dict[str, Any]:
        now = self.clock()
        active = self.active_pool()
        rows = []
        for n, pool in enumerate(self.pools):
            acc, rej = pool.counter.accepted(now), pool.counter.rejected(now)
            status = self.pool_status(pool)
            current = pool is active and status == "Alive"
            rows.append(
                {"POOL": n, "URL": pool.url, "Status": status, "Priority": pool.prio, "Quota": 1,
                 "Long Poll": "N", "Getworks": acc // 3, "Accepted": acc, "Rejected": rej,
                 "Discarded": acc // 2, "Stale": acc // 5000, "Get Failures": 0,
                 "Remote Failures": 0, "User": pool.user,
                 "Last Share Time": "0:00:02" if current else "0",
                 "Diff": "65.5K" if current else "", "Diff1 Shares": 0, "Proxy Type": "",
                 "Proxy": "", "Difficulty Accepted": acc * POOL_DIFFICULTY,
                 "Difficulty Rejected": rej * POOL_DIFFICULTY, "Difficulty Stale": 0.0,
                 "Last Share Difficulty": POOL_DIFFICULTY if current else 0.0,
                 "Has Stratum": True, "Stratum Active": current,
                 "Stratum URL": pool.url.split("//", 1)[-1].rsplit(":", 1)[0] if current else "",
                 "Has GBT": False, "Best Share": acc * 3,
                 "Pool Rejected%": round(100.0 * rej / max(acc + rej, 1), 4), "Pool Stale%%": 0.0}
            )  # fmt: skip
        if not rows:
            return self._status(8, "No pools", "E")
        return self._status(7, f"{len(rows)} Pool(s)", section="POOLS", rows=rows)

    # -- write commands (cgminer codes and messages) -------------------------------------

    def _pool_arg(self, param: str | None) -> int | dict[str, Any]:
        if param is None or not param.strip():
            return self._status(25, "Missing pool id parameter", "E")
        if not self.pools:
            return self._status(8, "No pools", "E")
        try:
            n = int(param)
        except ValueError:
            n = -1
        if not 0 <= n < len(self.pools):
            msg = f"Invalid pool id {n} - range is 0 - {len(self.pools) - 1}"
            return self._status(26, msg, "E")
        return n

    def _addpool(self, param: str | None) -> dict[str, Any]:
        if not param:
            return self._status(52, "Missing addpool details", "E")
        parts = [p.replace("\\,", ",").replace("\\\\", "\\") for p in _SPLIT_PARAM.split(param)]
        if len(parts) != 3 or not parts[0]:
            return self._status(53, f"Invalid addpool details '{param}'", "E")
        if len(self.pools) >= MAX_POOLS:
            return self._status(54, f"Reached maximum number of pools ({MAX_POOLS})", "E")
        now = self.clock()
        counter = ShareCounter(self.share_rate, 0.0008, now)
        self.pools.append(SimPool(parts[0], parts[1], parts[2], len(self.pools), counter))
        self._sync_pools(now)
        return self._status(55, f"Added pool '{parts[0]}'")

    def _switchpool(self, param: str | None) -> dict[str, Any]:
        n = self._pool_arg(param)
        if isinstance(n, dict):
            return n
        pool = self.pools[n]
        # cgminer moves the chosen pool to the top and shifts the ones that were above it.
        for other in self.pools:
            if other.prio < pool.prio:
                other.prio += 1
        pool.prio = 0
        pool.enabled = True
        self._sync_pools(self.clock())
        return self._status(27, f"Switching to pool {n}:'{pool.url}'")

    def _enablepool(self, param: str | None) -> dict[str, Any]:
        n = self._pool_arg(param)
        if isinstance(n, dict):
            return n
        pool = self.pools[n]
        if pool.enabled:
            return self._status(49, f"Pool {n}:'{pool.url}' already enabled", "I")
        pool.enabled = True
        self._sync_pools(self.clock())
        return self._status(47, f"Enabling pool {n}:'{pool.url}'")

    def _disablepool(self, param: str | None) -> dict[str, Any]:
        n = self._pool_arg(param)
        if isinstance(n, dict):
            return n
        pool = self.pools[n]
        if not pool.enabled:
            return self._status(50, f"Pool {n}:'{pool.url}' already disabled", "I")
        if sum(p.enabled for p in self.pools) == 1:
            return self._status(51, f"Cannot disable last active pool {n}:'{pool.url}'", "E")
        pool.enabled = False
        self._sync_pools(self.clock())
        return self._status(48, f"Disabling pool {n}:'{pool.url}'")

    def _removepool(self, param: str | None) -> dict[str, Any]:
        n = self._pool_arg(param)
        if isinstance(n, dict):
            return n
        pool = self.pools[n]
        if len(self.pools) == 1:
            return self._status(66, f"Cannot remove last pool {n}:'{pool.url}'", "E")
        if pool is self.active_pool():
            return self._status(67, f"Cannot remove active pool {n}:'{pool.url}'", "E")
        del self.pools[n]
        for prio, other in enumerate(sorted(self.pools, key=lambda p: p.prio)):
            other.prio = prio
        self._sync_pools(self.clock())
        return self._status(68, f"Removed pool {n}:'{pool.url}'")


_WRITE_COMMANDS = {
    "addpool": AntminerSim._addpool,
    "switchpool": AntminerSim._switchpool,
    "enablepool": AntminerSim._enablepool,
    "disablepool": AntminerSim._disablepool,
    "removepool": AntminerSim._removepool,
}


def _to_text(reply: dict[str, Any]) -> bytes:
    """cgminer's text format: ``STATUS=S,When=…|SECTION,key=value,…|``."""
    parts = []
    for section, items in reply.items():
        if section == "id" or not isinstance(items, list):
            continue
        for item in items:
            fields = ",".join(f"{k}={v}" for k, v in item.items())
            first = next(iter(item), "")
            named = first in (section, section[:-1])  # rows that start with their own id
            parts.append(fields if named else f"{section},{fields}")
    return ("|".join(parts) + "|").encode() + b"\x00"


class RpcProtocol(asyncio.Protocol):
    """One API connection: read one request, answer once (or not, per fault), close."""

    __slots__ = ("_buf", "_sim", "_transport")

    def __init__(self, sim: AntminerSim) -> None:
        """Serve ``sim``."""
        self._sim = sim
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept unless the device refuses (fault or reboot downtime)."""
        assert isinstance(transport, asyncio.Transport)
        if self._sim.admit(transport):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Answer as soon as the request is complete; clients do not half-close."""
        self._buf += data
        self._serve(eof=False)

    def eof_received(self) -> bool:
        """A client that half-closes gets the answer to what it sent."""
        self._serve(eof=True)
        return True  # we close ourselves once answered (or keep a hung connection open)

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
