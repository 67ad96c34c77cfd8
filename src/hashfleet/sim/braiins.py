"""A simulated Antminer on Braiins OS (BOSminer): the cgminer JSON API on TCP 4028.

BOSminer answers the cgminer commands with its own sections: ``devs`` with one-minute and
nominal rates, ``devdetails`` with the board model and chip counts, ``temps`` (board and
chip per hashchain), ``fans``, and ``tunerstatus`` (power limit, estimated consumption,
per-chain tuner state). Chains are numbered from 1 as the firmware does. ``pause`` and
``resume`` stop and restart hashing; ``restart`` restarts BOSminer (uptime from 0).
pyasic identifies the firmware by "BOSminer" in ``version`` and reads the model from
``devdetails`` ("Bitmain Antminer S19j Pro").
"""

from __future__ import annotations

import time
from typing import Any

from hashfleet.sim.antminer import Live, Preset
from hashfleet.sim.base import Clock, noise
from hashfleet.sim.cgminer_family import CgminerFamilySim, CgminerHost
from hashfleet.sim.registry import SimFamily

BOSMINER_VERSION = "0.9.0-2ca8fb48"
CHAIN_BASE = 1  # BOSminer numbers hashchains from 1 (6 to 8 on some S9 builds)

PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("Antminer S19j Pro", 104.0, 3050.0, 126, 525, 5880, "bosminer", "2023-05-02"),
        Preset("Antminer S19 XP", 141.0, 3010.0, 110, 500, 5400, "bosminer", "2023-05-02"),
    )
}  # fmt: skip
DEFAULT_MODEL = "Antminer S19j Pro"


class BraiinsSim(CgminerFamilySim):
    """One simulated Antminer running Braiins OS (BOSminer's API)."""

    family = "braiins"
    DESCRIPTION = f"BOSminer bosminer-plus-tuner {BOSMINER_VERSION}"
    PRESETS = PRESETS
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(
        self, address: str, *, model: str | None = None, seed: int = 0, clock: Clock = time.time
    ) -> None:
        """A Braiins OS miner of ``model`` (a key of :data:`PRESETS`)."""
        super().__init__(address, model=model, seed=seed, clock=clock)
        self.hostname = "bos-" + address.replace(".", "-")
        self.power_limit = round(self.preset.power_w * 1.05)

    def extra(self, cmd: str, param: str | None, live: Live | None) -> dict[str, Any] | None:
        """BOSminer's own sections and its pause/resume."""
        if cmd == "version":
            row = {"BOSminer": BOSMINER_VERSION, "API": "3.7"}
            return self._status(22, "BOSminer versions", section="VERSION", rows=[row])
        if cmd == "pause":
            self.set_paused(True)
            return self._status(0, "Paused", section="PAUSE", rows=[{"PAUSE": True}])
        if cmd == "resume":
            self.set_paused(False)
            return self._status(0, "Resumed", section="RESUME", rows=[{"RESUME": True}])
        handlers = {
            "summary": self._bos_summary,
            "devs": self._bos_devs,
            "devdetails": self._devdetails,
            "temps": self._temps,
            "fans": self._fans,
            "tunerstatus": self._tunerstatus,
        }
        handler = handlers.get(cmd)
        return None if handler is None else handler(self.live_now(live))

    def _bos_summary(self, live: Live) -> dict[str, Any]:
        acc, rej = self.share_totals(live.now)
        mhs = live.total * 1000.0
        jitter = 1.0 + 0.004 * noise(self.seed, 50, int(live.now))
        row = {"Elapsed": live.elapsed, "MHS av": round(mhs * 0.998, 2),
               "MHS 5s": round(mhs * jitter, 2), "MHS 1m": round(mhs, 2),
               "MHS 5m": round(mhs * 0.999, 2), "MHS 15m": round(mhs * 0.998, 2),
               "Accepted": acc, "Rejected": rej, "Hardware Errors": live.elapsed // 97,
               "Best Share": acc * 3, "Last getwork": int(live.now)}  # fmt: skip
        return self._status(11, "Summary", section="SUMMARY", rows=[row])

    def _bos_devs(self, live: Live) -> dict[str, Any]:
        nominal = self.preset.hashrate_ths * 1e6 / self.preset.boards
        rows = []
        for b, rate in enumerate(live.rates):
            alive = live.chips[b] > 0
            mhs = round(rate * 1000.0, 2)
            rows.append(
                {"ASC": b, "Name": "BC5", "ID": b + CHAIN_BASE, "Enabled": "Y",
                 "Status": "Alive" if alive else "Dead", "Temperature": float(max(live.chip[b])),
                 "MHS av": mhs, "MHS 5s": mhs, "MHS 1m": mhs, "MHS 5m": mhs, "MHS 15m": mhs,
                 "Nominal MHS": round(nominal, 2), "Hardware Errors": 0,
                 "Device Elapsed": live.elapsed}
            )  # fmt: skip
        return self._status(9, f"{len(rows)} ASC(s)", section="DEVS", rows=rows)

    def _devdetails(self, live: Live) -> dict[str, Any]:
        rows = [
            {"DEVDETAILS": b, "Name": "BC5", "ID": b + CHAIN_BASE, "Driver": "BitmainS19",
             "Kernel": "", "Model": f"Bitmain {self.preset.model}", "Chips": live.chips[b],
             "Frequency": float(self.preset.freq) if live.chips[b] else 0.0,
             "Voltage": 13.6 if live.chips[b] else 0.0}
            for b in range(self.preset.boards)
        ]  # fmt: skip
        return self._status(69, "Device Details", section="DEVDETAILS", rows=rows)

    def _temps(self, live: Live) -> dict[str, Any]:
        # BOSminer leaves a board it cannot read out of ``temps``.
        rows = [
            {"TEMPS": b, "ID": b + CHAIN_BASE, "Board": float(live.pcb[b][3]),
             "Chip": float(max(live.chip[b]))}
            for b in range(self.preset.boards)
            if live.chips[b]
        ]  # fmt: skip
        return self._status(201, f"{len(rows)} Temp(s)", section="TEMPS", rows=rows)

    def _fans(self, live: Live) -> dict[str, Any]:
        rows = self.fan_rows(live)
        return self._status(202, f"{len(rows)} Fan(s)", section="FANS", rows=rows)

    def _tunerstatus(self, live: Live) -> dict[str, Any]:
        chains = []
        for b in range(self.preset.boards):
            dead = live.chips[b] == 0
            chains.append(
                {"HashchainIndex": b + CHAIN_BASE, "Iteration": 0, "LoadedProfile": True,
                 "PowerLimitWatt": round(self.power_limit / self.preset.boards),
                 "ApproximatePowerConsumptionWatt": 0 if dead else round(live.power / 3),
                 "Status": "Failed to initialize" if dead else "Stable"}
            )  # fmt: skip
        row = {"PowerLimit": self.power_limit, "DynamicPowerScaling": "Disabled",
               "ApproximateChainPowerConsumption": round(live.power * 0.93),
               "ApproximateMinerPowerConsumption": round(live.power),
               "TunerRunning": not self.sleeping, "TunerChainStatus": chains}  # fmt: skip
        return self._status(100, "Tuner Status", section="TUNERSTATUS", rows=[row])


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> BraiinsSim:
    """One simulated Braiins OS miner (the registry's factory)."""
    return BraiinsSim(address, model=model, seed=seed, clock=clock)


FAMILY = SimFamily(family="braiins", models=tuple(PRESETS), create=create, host=CgminerHost)
