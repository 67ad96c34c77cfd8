"""A simulated Antminer on LuxOS (LUXminer): the cgminer JSON API on TCP 4028 with sessions.

Reads are open: ``summary``, ``stats`` (bmminer-shaped, chain rates/chips/temperatures),
``pools``, ``fans``, ``temps``, ``power``, ``config``, ``version``, ``profiles``,
``frequencyget``. Writes need a session: ``logon`` hands out a session id (``session`` shows
the current one) and every write command takes it as the first parameter: ``rebootdevice``,
``curtail`` (``sleep`` / ``wakeup``), ``profileset``, ``addpool``/``removepool``/
``switchpool``, ``ledset``, ``atmset``, ``fanset`` (``speed=N``, -1 automatic) and
``frequencyset`` (``<board>,<MHz>``).
pyasic identifies the firmware by "LUXminer" in ``version`` and the model by its ``Type``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from hashfleet.sim.antminer import Live, Preset
from hashfleet.sim.base import Clock
from hashfleet.sim.cgminer_family import CgminerFamilySim, CgminerHost
from hashfleet.sim.registry import SimFamily

LUXMINER_VERSION = "2024.5.1.155413-f0a3a8c4"

PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("Antminer S19j Pro", 104.0, 3068.0, 126, 525, 5880, "luxminer", "2024-05-01"),
        Preset("Antminer S21", 200.0, 3500.0, 108, 490, 4560, "luxminer", "2024-05-01"),
    )
}  # fmt: skip
DEFAULT_MODEL = "Antminer S19j Pro"
# Profile name → (hashrate factor, power factor) against the stock ("default") profile.
PROFILES: dict[str, tuple[float, float]] = {
    "-2": (0.80, 0.70), "-1": (0.90, 0.84), "default": (1.0, 1.0), "+1": (1.08, 1.15),
    "+2": (1.15, 1.32),
}  # fmt: skip
_SESSION_COMMANDS = frozenset(
    {"rebootdevice", "curtail", "profileset", "addpool", "removepool", "switchpool",
     "enablepool", "disablepool", "ledset", "atmset", "logoff", "fanset", "frequencyset"}
)  # fmt: skip
FAN_MAX_RPM = 6600  # an S19/S21 fan at 100 % duty
FREQ_RANGE = (100, 1200)  # MHz the simulated frequencyset accepts


class LuxosSim(CgminerFamilySim):
    """One simulated Antminer running LuxOS."""

    family = "luxos"
    DESCRIPTION = f"LUXminer {LUXMINER_VERSION}"
    PRESETS = PRESETS
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(
        self, address: str, *, model: str | None = None, seed: int = 0, clock: Clock = time.time
    ) -> None:
        """A LuxOS miner of ``model`` (a key of :data:`PRESETS`)."""
        super().__init__(address, model=model, seed=seed, clock=clock)
        self.hostname = "luxos-" + address.replace(".", "-")
        self.session_id = ""
        self.profile = "default"
        self.red_led = False
        self.atm = True
        self.fan_speed = -1  # fanset speed: -1 automatic, else a fixed duty in percent
        self.freqs: dict[int, int] = {}  # board → frequencyset MHz (absent: the profile's)

    def board_freq(self, board: int) -> int:
        """The chip frequency of ``board`` (MHz): set by ``frequencyset``, else the profile's."""
        return self.freqs.get(board, round(self.preset.freq * self.scale[0]))

    def live(self, now: float) -> Live:
        """The profile's values, with per-board frequencies and a fixed fan duty applied."""
        live = super().live(now)
        if self.freqs and not self.sleeping:
            base = self.preset.freq * self.scale[0]
            factors = [self.board_freq(b) / base for b in range(self.preset.boards)]
            live.power *= sum(factors) / len(factors)
            live.rates = [r * f for r, f in zip(live.rates, factors, strict=True)]
        if self.fan_speed != -1:
            live.fans = [FAN_MAX_RPM * self.fan_speed // 100 // 60 * 60 for _ in live.fans]
        return live

    def _stats(self, live: Live) -> dict[str, Any]:
        reply = super()._stats(live)
        data = reply["STATS"][1]
        for b in range(self.preset.boards):
            data[f"freq{b + 1}"] = self.board_freq(b) if live.chips[b] else 0
        freqs = [self.board_freq(b) for b in range(self.preset.boards)]
        data["total_freqavg"] = round(sum(freqs) / len(freqs))
        return reply

    def set_profile(self, name: str) -> None:
        """Run profile ``name`` (a key of :data:`PROFILES`)."""
        self.profile = name
        self.scale = PROFILES[name]

    def _restarted(self, now: float) -> None:
        # A rebooted LUXminer has forgotten its session; the profile is saved and survives.
        self.session_id = ""
        super()._restarted(now)

    def info(self) -> dict[str, object]:
        """Control-endpoint state."""
        out = super().info()
        out.update(profile=self.profile, led=self.red_led, session=bool(self.session_id),
                   fan_speed=self.fan_speed, freqs=dict(self.freqs))  # fmt: skip
        return out

    def extra(self, cmd: str, param: str | None, live: Live | None) -> dict[str, Any] | None:
        """LUXminer's sections and its session-guarded writes."""
        if cmd in _SESSION_COMMANDS:
            sid, _, rest = (param or "").partition(",")
            if not self.session_id or sid != self.session_id:
                return self._status(45, f"Invalid session id for '{cmd}'", "E")
            return self._write(cmd, rest)
        if cmd == "version":
            row: dict[str, Any] = {"LUXminer": LUXMINER_VERSION, "API": "3.7"}
            row.update(Miner=LUXMINER_VERSION, Type=self.preset.model)
            return self._status(22, "LUXminer versions", section="VERSION", rows=[row])
        if cmd in ("logon", "session"):
            if cmd == "logon" and not self.session_id:
                self.session_id = secrets.token_hex(4)
            row = {"SessionID": self.session_id}
            return self._status(0, "Session", section="SESSION", rows=[row])
        if cmd == "config":
            return self._config()
        if cmd == "pools":
            # LUXminer puts every pool in a group (one "Default" group here).
            reply = self._pools_reply()
            for row in reply.get("POOLS", []):
                row["GROUP"] = 0
            return reply
        if cmd == "groups":
            row = {"GROUP": 0, "Name": "Default", "Quota": 1}
            return self._status(0, "1 Group(s)", section="GROUPS", rows=[row])
        if cmd == "tempctrl":
            row = {"Mode": "Auto", "Target": 75, "Hot": 90, "Dangerous": 100}
            return self._status(0, "Temp control", section="TEMPCTRL", rows=[row])
        if cmd == "profiles":
            return self._profiles()
        if cmd == "frequencyget":
            board = (param or "").split(",")[0]
            if not board.isdigit() or int(board) >= self.preset.boards:
                return self._status(14, f"Invalid board '{board}'", "E")
            row = {"Board": int(board), "Frequency": self.board_freq(int(board))}
            return self._status(0, "Frequency", section="FREQUENCY", rows=[row])
        if cmd in ("fans", "temps", "power"):
            live = self.live_now(live)
            if cmd == "fans":
                rows = self.fan_rows(live)
                reply = self._status(202, f"{len(rows)} Fan(s)", section="FANS", rows=rows)
                mode = "Auto" if self.fan_speed == -1 else "Manual"
                reply["FANCTRL"] = [{"MinFans": 1, "Mode": mode, "Speed": self.fan_speed}]
                return reply
            if cmd == "power":
                row = {"PSU": True, "Watts": round(live.power)}
                return self._status(0, "Power", section="POWER", rows=[row])
            return self._temps(live)
        return None

    def _write(self, cmd: str, rest: str) -> dict[str, Any]:
        if cmd == "rebootdevice":
            self.restart(self.reboot_downtime)
            return self._status(0, "Device reboot requested")
        if cmd == "logoff":
            self.session_id = ""
            return self._status(0, "Session closed")
        if cmd == "curtail":
            if rest not in ("sleep", "wakeup"):
                return self._status(14, f"Invalid curtail mode '{rest}'", "E")
            self.set_paused(rest == "sleep")
            return self._status(0, f"Curtail {rest}")
        if cmd == "profileset":
            if rest not in PROFILES:
                return self._status(14, f"Invalid profile '{rest}'", "E")
            self.set_profile(rest)
            self.freqs.clear()  # a profile brings its own frequency
            row = {"Profile": rest, "Result": "success"}
            return self._status(0, "Profile set", section="PROFILE", rows=[row])
        if cmd == "ledset":
            color, _, state = rest.partition(",")
            if color not in ("red", "green") or state not in ("on", "off", "blink"):
                return self._status(14, f"Invalid led setting '{rest}'", "E")
            if color == "red":
                self.red_led = state != "off"
            return self._status(0, "LED set")
        if cmd == "fanset":
            args = dict(a.partition("=")[::2] for a in rest.split(",") if a)
            try:
                speed = int(args.get("speed", ""))
            except ValueError:
                return self._status(14, f"Invalid fanset '{rest}'", "E")
            if speed != -1 and not 0 <= speed <= 100:
                return self._status(14, f"Invalid fan speed {speed}", "E")
            self.fan_speed = speed
            return self._status(0, "Fan control set")
        if cmd == "frequencyset":
            board, _, freq = rest.partition(",")
            if not board.isdigit() or int(board) >= self.preset.boards or not freq.isdigit():
                return self._status(14, f"Invalid frequencyset '{rest}'", "E")
            if not FREQ_RANGE[0] <= int(freq) <= FREQ_RANGE[1]:
                return self._status(14, f"Frequency {freq} out of range", "E")
            self.freqs[int(board)] = int(freq)
            return self._status(0, f"Board {board} frequency set")
        if cmd == "atmset":
            self.atm = "enabled=false" not in rest
            return self._status(0, "ATM set")
        # Pool commands: cgminer's own handlers, once the session id is taken off.
        return _POOL_WRITES[cmd](self, rest)

    def _config(self) -> dict[str, Any]:
        row = {"MACAddr": self.mac.lower(), "Hostname": self.hostname, "Profile": self.profile,
               "RedLed": "on" if self.red_led else "off", "GreenLed": "blink",
               "IsAtmEnabled": self.atm, "IsTuning": False,
               "CurtailMode": "Sleep" if self.paused else "None",
               "SerialNumber": self.serial, "Model": self.preset.model}  # fmt: skip
        return self._status(0, "Config", section="CONFIG", rows=[row])

    def _profiles(self) -> dict[str, Any]:
        p = self.preset
        rows = [
            {"Profile Name": name, "Frequency": round(p.freq * rate), "Step": name,
             "Hashrate": round(p.hashrate_ths * rate, 2), "Watts": round(p.power_w * power),
             "Voltage": 13.4, "IsTuned": False, "IsDynamic": False}
            for name, (rate, power) in PROFILES.items()
        ]  # fmt: skip
        return self._status(0, "Profiles", section="PROFILES", rows=rows)

    def _temps(self, live: Live) -> dict[str, Any]:
        rows = [
            {"TEMPS": b, "ID": b, "Board": float(live.pcb[b][3]),
             "Chip": float(max(live.chip[b])),
             "TopLeft": float(live.chip[b][0]), "TopRight": float(live.chip[b][1]),
             "BottomLeft": float(live.chip[b][2]), "BottomRight": float(live.chip[b][3])}
            for b in range(self.preset.boards)
        ]  # fmt: skip
        return self._status(201, f"{len(rows)} Temp(s)", section="TEMPS", rows=rows)


_POOL_WRITES = {
    "addpool": CgminerFamilySim._addpool,
    "removepool": CgminerFamilySim._removepool,
    "switchpool": CgminerFamilySim._switchpool,
    "enablepool": CgminerFamilySim._enablepool,
    "disablepool": CgminerFamilySim._disablepool,
}


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> LuxosSim:
    """One simulated LuxOS miner (the registry's factory)."""
    return LuxosSim(address, model=model, seed=seed, clock=clock)


FAMILY = SimFamily(family="luxos", models=tuple(PRESETS), create=create, host=CgminerHost)
