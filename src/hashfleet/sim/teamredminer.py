"""A simulated TeamRedMiner (AMD GPU miner): its sgminer-style JSON API on TCP 4028.

Commands: ``summary``, ``devs`` (one row per GPU: ``GPU``, ``Status``, ``Temperature``,
``TemperatureMem``, ``Fan Percent``, ``GPU Clock``, ``Memory Clock``, ``GPU Power``,
``MHS 5s``/``MHS av``, ``Accepted``, ``Rejected``), ``pools`` (``URL``, ``User``,
``Status`` Alive/Dead, ``Algorithm``, counters), ``version`` (``TeamRedMiner``, ``API``)
and ``restart`` (the privileged restart of the mining process; TRM's API is read-only
otherwise here). Joined commands (``summary+devs+pools+version``) are answered by 0.10;
0.8 (the quirky one) only takes single commands, answers ``version`` with a ``CGMiner``
key and has no memory temperature or power columns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from hashfleet.sim.base import Clock, Listener, SimDevice
from hashfleet.sim.faults import GARBAGE_BYTES, Fault
from hashfleet.sim.gpu import ETCHASH, KAWPOW, GpuRig, GpuSample, rig_for
from hashfleet.sim.registry import SimFamily

API_PORT = 4028
VERSIONS = ("0.10.21", "0.8.7")
OLD = ("0.8.7",)
RESTART_DOWNTIME = 5.0
_ALGO_NAME = {"etchash": "etchash", "kawpow": "kawpow", "autolykos2": "autolykos2",
              "kheavyhash": "kas"}  # fmt: skip
_REQUEST_LIMIT = 4096


class TeamRedMinerSim(SimDevice):
    """One simulated TeamRedMiner process and its AMD rig."""

    family = "teamredminer"
    software = "TeamRedMiner"

    def __init__(
        self,
        address: str,
        *,
        port: int = API_PORT,
        seed: int = 0,
        clock: Clock = time.time,
        version: str = VERSIONS[0],
        cards: Sequence[str] | None = None,
        algo: str = ETCHASH,
    ) -> None:
        """TeamRedMiner ``version`` on ``address:port`` mining ``algo`` on AMD ``cards``."""
        if version not in VERSIONS:
            raise ValueError(f"unknown TeamRedMiner version {version!r}; one of: {VERSIONS}")
        super().__init__(address, port, seed=seed, clock=clock)
        self.version = version
        now = self.clock()
        self.rig = GpuRig(cards or rig_for(seed, "amd"), (algo,), seed, now)
        if any(c.vendor != "amd" for c in self.rig.cards):
            raise ValueError("TeamRedMiner runs on AMD cards only")
        self.rig.started = self.boot_at
        self.rig.prefill(self.uptime(now), now)
        coin = {KAWPOW: "rvn"}.get(algo, "etc")
        self.pool = f"stratum+tcp://{coin}.pool.example.net:{4444 if coin == 'rvn' else 1010}"
        self.user = "0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE.rig" + address.rsplit(".", 1)[-1]
        self.listeners.append(Listener(address, port, lambda: _ApiProtocol(self)))

    @property
    def model(self) -> str:
        """The program and its version."""
        return f"{self.software} {self.version}"

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus cards and algorithm."""
        out = super().info()
        out.update(cards=[c.key for c in self.rig.cards], algo=self.rig.algos[0])
        return out

    def _faults_changed(self, now: float) -> None:
        self.rig.sync(now, self.fault, True)

    def _restarted(self, now: float) -> None:
        self.rig.reset(self.boot_at)
        self.rig.sync(now, self.fault, True)

    # -- the API -------------------------------------------------------------------------

    def answer(self, buf: bytes) -> bytes | None:
        """The reply to request ``buf``, or ``None`` while it is incomplete."""
        try:
            req = msgspec.json.decode(buf.strip(b"\x00 \r\n\t"))
        except msgspec.DecodeError:
            if len(buf) < _REQUEST_LIMIT and not buf.rstrip().endswith(b"}"):
                return None
            return self._encode(self._status(23, "Invalid JSON", "E"))
        cmd = req.get("command") if isinstance(req, dict) else None
        if not isinstance(cmd, str) or not cmd:
            return self._encode(self._status(24, "Missing JSON 'command'", "E"))
        if cmd == "restart":
            self.restart(RESTART_DOWNTIME)
            return b'{"RESTART","id":1}\x00'
        if "+" in cmd:
            if self.version in OLD:
                return self._encode(self._status(14, "Invalid command", "E"))
            out: dict[str, Any] = {}
            samples = self.rig.sample(self.clock(), self.fault, True)
            for part in cmd.split("+"):
                out[part] = [self._one(part, samples)]
            out["id"] = 1
            return self._encode(out)
        return self._encode(self._one(cmd, self.rig.sample(self.clock(), self.fault, True)))

    def _encode(self, reply: dict[str, Any]) -> bytes:
        return msgspec.json.encode(reply) + b"\x00"

    def _status(self, code: int, msg: str, status: str = "S", section: str = "",
                rows: Any = None) -> dict[str, Any]:  # fmt: skip
        entry = {"STATUS": status, "When": int(self.clock()), "Code": code, "Msg": msg,
                 "Description": f"TeamRedMiner {self.version}"}  # fmt: skip
        out: dict[str, Any] = {"STATUS": [entry]}
        if section:
            out[section] = rows
        out["id"] = 1
        return out

    def _one(self, cmd: str, gpus: list[GpuSample]) -> dict[str, Any]:
        if cmd == "version":
            key = "CGMiner" if self.version in OLD else "TeamRedMiner"
            return self._status(22, f"{key} versions", section="VERSION",
                                rows=[{key: self.version, "API": "3.7"}])  # fmt: skip
        if cmd == "summary":
            return self._status(11, "Summary", section="SUMMARY", rows=[self._summary(gpus)])
        if cmd == "devs":
            return self._status(9, f"{len(gpus)} GPU(s)", section="DEVS",
                                rows=[self._dev(g) for g in gpus])  # fmt: skip
        if cmd == "pools":
            return self._status(7, "1 Pool(s)", section="POOLS", rows=[self._pool(gpus)])
        return self._status(14, "Invalid command", "E")

    def _summary(self, gpus: list[GpuSample]) -> dict[str, Any]:
        mhs = sum(g.hashrates[0] or 0.0 for g in gpus) / 1e6
        acc, rej = sum(g.accepted[0] for g in gpus), sum(g.rejected[0] for g in gpus)
        return {"Elapsed": self.uptime(self.clock()), "MHS av": round(mhs, 3),
                "MHS 5s": round(mhs, 3), "KHS av": round(mhs * 1000), "KHS 5s": round(mhs * 1000),
                "Accepted": acc, "Rejected": rej, "Hardware Errors": 0,
                "Utility": 0.0, "Stale": 0, "Difficulty Accepted": acc * 4.0e9,
                "Difficulty Rejected": rej * 4.0e9, "Pool Rejected%": 0.3}  # fmt: skip

    def _dev(self, g: GpuSample) -> dict[str, Any]:
        mhs = round((g.hashrates[0] or 0.0) / 1e6, 3)
        row: dict[str, Any] = {
            "GPU": g.index, "Enabled": "Y", "Status": "Dead" if g.dead else "Alive",
            "Temperature": float(g.temp_c), "Fan Speed": int(33 * g.fan_pct),
            "Fan Percent": int(g.fan_pct), "GPU Clock": int(g.core_mhz),
            "Memory Clock": int(g.mem_mhz), "GPU Voltage": 0.8,
            "GPU Activity": 0 if g.dead else 100,
            "Powertune": 0, "MHS av": mhs, "MHS 5s": mhs, "KHS av": round(mhs * 1000),
            "KHS 5s": round(mhs * 1000), "Accepted": g.accepted[0], "Rejected": g.rejected[0],
            "Hardware Errors": 0, "Utility": 0.0, "Intensity": "0", "Last Share Pool": 0,
            "Device Elapsed": self.uptime(self.clock()),
        }  # fmt: skip
        if self.version not in OLD:
            row.update({"TemperatureMem": float(g.mem_temp_c), "GPU Power": g.power_w})
        return row

    def _pool(self, gpus: list[GpuSample]) -> dict[str, Any]:
        down = self.fault is Fault.POOL_DOWN
        return {"POOL": 0, "URL": self.pool, "Status": "Dead" if down else "Alive",
                "Priority": 0, "Quota": 1, "Algorithm": _ALGO_NAME.get(self.rig.algos[0]),
                "User": self.user, "Accepted": sum(g.accepted[0] for g in gpus),
                "Rejected": sum(g.rejected[0] for g in gpus), "Stratum Active": not down,
                "Stratum URL": self.pool.split("//")[-1]}  # fmt: skip


class _ApiProtocol(asyncio.Protocol):
    """One API connection: read one request, answer once (or not, per fault), close."""

    def __init__(self, sim: TeamRedMinerSim) -> None:
        self._sim = sim
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._sim.admit(transport):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._serve()

    def eof_received(self) -> bool:
        self._serve()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._sim.forget(self._transport)
            self._transport = None

    def _serve(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        fault = self._sim.fault
        if fault is Fault.HANG:
            self._sim.hold(transport)
            return
        if fault is Fault.REFUSE:
            self._sim.admit(transport)  # resets it
            return
        reply = self._sim.answer(self._buf)
        if reply is None:
            return
        transport.write(GARBAGE_BYTES if fault is Fault.GARBAGE else reply)
        transport.close()


class TeamRedMinerHost:
    """Serves many simulated TeamRedMiners, each on its own TCP listener."""

    def __init__(self) -> None:
        """Nothing served yet."""
        self.sims: list[SimDevice] = []

    async def add(self, sim: SimDevice) -> None:
        """Open ``sim``'s listener."""
        await sim.start()
        self.sims.append(sim)

    async def close(self) -> None:
        """Stop every device."""
        for sim in self.sims:
            await sim.stop()
        self.sims.clear()


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> TeamRedMinerSim:
    """A farm's TeamRedMiner: ``model`` is the version; odd seeds mine kawpow."""
    version = model or VERSIONS[seed % len(VERSIONS)]
    algo = KAWPOW if seed % 2 else ETCHASH
    return TeamRedMinerSim(address, seed=seed, clock=clock, version=version, algo=algo)


FAMILY = SimFamily(family="teamredminer", models=VERSIONS, create=create,
                   host=TeamRedMinerHost)  # fmt: skip
