"""What the simulated aftermarket Antminer firmwares share: an Antminer's hardware model
(boards, drifting rates and temperatures, fans, pools, share counters, cgminer pool
commands) from :class:`~hashfleet.sim.antminer.AntminerSim`, with the identity, presets
and extra commands of each firmware layered on top.

Braiins OS, LuxOS and VNish all keep the cgminer JSON API on TCP 4028 with one request per
connection; what differs is the strings they identify with, the sections they add
(``temps``, ``fans``, ``tunerstatus``, ``power``…) and how they guard write commands.
Subclasses set :attr:`DESCRIPTION` and answer their own commands in :meth:`extra`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hashfleet.sim import antminer
from hashfleet.sim.antminer import AntminerSim, Live, Preset
from hashfleet.sim.base import Clock, SimDevice


@dataclass(slots=True)
class CgminerHost:
    """Serves simulated TCP miners: each opens its own listeners."""

    sims: list[SimDevice] = field(default_factory=list)

    async def add(self, sim: SimDevice) -> None:
        """Open ``sim``'s listeners; ``OSError`` if an address is taken."""
        await sim.start()
        self.sims.append(sim)

    async def close(self) -> None:
        """Stop every simulator."""
        for sim in self.sims:
            await sim.stop()
        self.sims.clear()


class CgminerFamilySim(AntminerSim):
    """An Antminer running an aftermarket firmware; subclasses give it its identity."""

    family = "cgminer_family"
    DESCRIPTION = "cgminer 4.11.1"
    PRESETS: dict[str, Preset] = {}
    DEFAULT_MODEL = ""

    def __init__(
        self,
        address: str,
        *,
        model: str | None = None,
        seed: int = 0,
        port: int = antminer.RPC_PORT,
        clock: Clock = time.time,
    ) -> None:
        """A miner of ``model`` (a key of the subclass's :attr:`PRESETS`)."""
        model = model or self.DEFAULT_MODEL
        if model not in self.PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(self.PRESETS)}")
        self.scale = (1.0, 1.0)  # hashrate and power factors of the running profile
        self.paused = False  # read by ``sleeping`` while the parent builds its pools
        super().__init__(address, seed=seed, port=port, clock=clock)
        # The stock presets only seed the hardware; this firmware's own preset replaces it
        # before anything drifts, and the share rate follows its nameplate hashrate.
        self._use_preset(self.PRESETS[model])

    def _use_preset(self, preset: Preset) -> None:
        self.preset = preset
        self.dead_board = self.seed % preset.boards
        self.share_rate = preset.hashrate_ths * 1e12 / (antminer.POOL_DIFFICULTY * 2**32)
        now = self.clock()
        for pool in self.pools:
            pool.counter.rate = self.share_rate
        self.pools[0].counter.banked = self.uptime(now) * self.share_rate
        self._sync_pools(now)

    @property
    def sleeping(self) -> bool:
        """Paused (curtailed) or in the stock sleep work mode: boards idle, no shares."""
        return self.paused or self.work_mode == antminer.WORK_SLEEP

    def set_paused(self, paused: bool) -> None:
        """Stop or restart hashing; counters stop while paused."""
        self.paused = paused
        self._sync_pools(self.clock())

    def live(self, now: float) -> Live:
        """The stock values, scaled by the running profile (hashrate and power)."""
        live = super().live(now)
        rate_scale, power_scale = self.scale
        if rate_scale != 1.0 and not self.sleeping:
            live.rates = [r * rate_scale for r in live.rates]
            live.power *= power_scale
        return live

    def _restarted(self, now: float) -> None:
        # A restarted mining process hashes again: a pause does not survive it.
        self.paused = False
        super()._restarted(now)

    def info(self) -> dict[str, object]:
        """Control-endpoint state."""
        out = super().info()
        out["paused"] = self.paused
        return out

    def _status(
        self, code: int, msg: str, status: str = "S", section: str = "", rows: Any = None
    ) -> dict[str, Any]:
        reply = super()._status(code, msg, status, section, rows)
        reply["STATUS"][0]["Description"] = self.DESCRIPTION
        return reply

    def _one(self, cmd: str, param: str | None, new_api: bool, live: Live | None) -> dict[str, Any]:
        reply = self.extra(cmd, param, live)
        if reply is not None:
            return reply
        return super()._one(cmd, param, False, live)

    def extra(self, cmd: str, param: str | None, live: Live | None) -> dict[str, Any] | None:
        """This firmware's own answer to ``cmd``; ``None`` falls back to the stock one."""
        return None

    def live_now(self, live: Live | None) -> Live:
        """``live`` or the values of this instant."""
        return live or self.live(self.clock())

    def fan_rows(self, live: Live) -> list[dict[str, Any]]:
        """cgminer-style ``FANS`` rows: id, rpm and duty (%)."""
        return [
            {"FANS": i, "ID": i, "RPM": rpm, "Speed": min(100, round(rpm / 70))}
            for i, rpm in enumerate(live.fans)
        ]
