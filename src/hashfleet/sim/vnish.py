"""A simulated Antminer on VNish: bmminer's cgminer API on TCP 4028 and a REST API on 80.

The cgminer side is the stock one (``summary``, ``stats``, ``pools``) with VNish's strings:
``version`` names the firmware and ``stats`` gives the model as "Antminer S19 Pro (Vnish
1.2.6)". The web side (``/api/v1/…``) is VNish's own: ``unlock`` trades the web password for
a token sent back in ``Authorization`` (bare, or ``Bearer`` for ``system/*``); ``info`` is
open; ``summary``, ``settings`` (GET, POST pools / preset), ``autotune/presets``,
``perf-summary``, ``mining/pause|resume|restart``, ``system/reboot`` and ``find-miner``
(toggles the locate light) need the token.
Autotune presets: each model has five, named by their wattage ("3250"), some tuned and some
not; saving one through ``settings`` restarts the miner on it, and the hashrate and power of
both APIs follow it. ``web_down`` makes the web server answer 503 while 4028 still answers.
pyasic identifies VNish by "AnthillOS" on the web root page or "VNish" in the socket replies.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from hashfleet.sim.antminer import Live, Preset
from hashfleet.sim.base import Clock, SimDevice
from hashfleet.sim.cgminer_family import CgminerFamilySim
from hashfleet.sim.faults import Fault
from hashfleet.sim.http import HttpSimDevice, HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

VNISH_VERSION = "1.2.6"
WEB_PORT = 80
DEFAULT_PASSWORD = "admin"
ROOT_PAGE = (
    "<!DOCTYPE html><html><head><title>AnthillOS</title></head>"
    '<body><div id="app"></div></body></html>'
)

PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("Antminer S19 Pro", 110.0, 3250.0, 114, 675, 6120, "vnish", "2024-03-11"),
        Preset("Antminer S19k Pro", 120.0, 2760.0, 77, 560, 5400, "vnish", "2024-03-11"),
    )
}  # fmt: skip
DEFAULT_MODEL = "Antminer S19 Pro"
# The autotune presets of a fresh miner, relative to its nameplate: power and hashrate
# factors and whether the preset is tuned yet (VNish tunes them one by one).
AUTOTUNE = ((0.75, 0.82, True), (0.85, 0.9, True), (0.93, 0.96, False), (1.0, 1.0, True),
            (1.1, 1.05, False))  # fmt: skip
STOCK_PRESET = "disabled"  # VNish's name for the stock clocks (no autotune)


@dataclass(slots=True)
class AutotunePreset:
    """One autotune preset: its name is its wattage, as VNish names them."""

    name: str
    watts: int
    hashrate_ths: float
    tuned: bool

    def doc(self) -> dict[str, Any]:
        """The preset as ``autotune/presets`` lists it."""
        return {"name": self.name, "pretty": f"{self.watts} watt ~ {round(self.hashrate_ths)} TH",
                "status": "tuned" if self.tuned else "untuned",
                "modded_psu_required": False}  # fmt: skip


def autotune_presets(preset: Preset) -> list[AutotunePreset]:
    """The presets a miner of ``preset``'s model offers, lowest wattage first."""
    out = []
    for power, rate, tuned in AUTOTUNE:
        watts = int(round(preset.power_w * power, -1))
        out.append(AutotunePreset(str(watts), watts, round(preset.hashrate_ths * rate, 1), tuned))
    return out


class VnishSim(CgminerFamilySim, HttpSimDevice):
    """One simulated Antminer running VNish: cgminer listener plus the web API."""

    family = "vnish"
    DESCRIPTION = f"VNish {VNISH_VERSION}"
    PRESETS = PRESETS
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(
        self,
        address: str,
        *,
        model: str | None = None,
        seed: int = 0,
        clock: Clock = time.time,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        """A VNish miner of ``model``; the web API unlocks with ``password``."""
        super().__init__(address, model=model, seed=seed, clock=clock)
        self.web_port = WEB_PORT
        self.password = password
        self.tokens: set[str] = set()
        self.hostname = "vnish-" + address.replace(".", "-")
        self.autotune = autotune_presets(self.preset)
        self.preset_watts = str(round(self.preset.power_w))  # the active preset's name
        self.web_down = False  # the web server answers 503; the cgminer API still works

    def active_preset(self) -> AutotunePreset | None:
        """The preset mining now (``None``: stock clocks or a name no preset has)."""
        return next((p for p in self.autotune if p.name == self.preset_watts), None)

    def apply_preset(self, name: str) -> bool:
        """Restart the miner on the preset ``name`` (or ``"disabled"``); ``False`` if there
        is no such preset."""
        if name == STOCK_PRESET:
            self.scale = (1.0, 1.0)
        else:
            chosen = next((p for p in self.autotune if p.name == name), None)
            if chosen is None:
                return False
            self.scale = (chosen.hashrate_ths / self.preset.hashrate_ths,
                          chosen.watts / self.preset.power_w)  # fmt: skip
        self.preset_watts = name
        self.restart()
        return True

    def live(self, now: float) -> Live:
        """The drifting values, at the running preset's hashrate and power."""
        live = super().live(now)
        live.ideal_board *= self.scale[0]  # the nominal rate follows the preset too
        return live

    @property
    def miner_type(self) -> str:
        """The model with the firmware, as VNish writes it everywhere."""
        return f"{self.preset.model} (Vnish {VNISH_VERSION})"

    def thing_opts(self) -> dict[str, object]:
        """Driver options: the web password as well."""
        out = super().thing_opts()
        out["password"] = self.password
        return out

    def info(self) -> dict[str, object]:
        """Control-endpoint state."""
        out = super().info()
        out["web_port"] = self.web_port
        out["preset"] = self.preset_watts
        return out

    # -- cgminer side --------------------------------------------------------------------

    def extra(self, cmd: str, param: str | None, live: Live | None) -> dict[str, Any] | None:
        """``version`` and ``stats`` in VNish's words; the rest is bmminer's."""
        if cmd == "version":
            # No "Antminer" here: clients that scan it would take the device for stock.
            name = f"Vnish {VNISH_VERSION}"
            row = {"BMMiner": "1.0.0", "API": "3.1", "Miner": name,
                   "CompileTime": self.preset.compile_time, "Type": name}  # fmt: skip
            return self._status(22, "BMMiner versions", section="VERSION", rows=[row])
        if cmd == "stats":
            reply = self._stats(self.live_now(live))
            for row in reply["STATS"]:
                if "Type" in row:
                    row["Type"] = self.miner_type
            return reply
        return None

    # -- web side ------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one web request."""
        path = request.path.rstrip("/")
        if path in ("", "/index.html"):
            return web.Response(text=ROOT_PAGE, content_type="text/html")
        if self.web_down:
            return web.Response(status=503, text="503 Service Temporarily Unavailable")
        if not path.startswith("/api/v1/"):
            return web.Response(status=404, text="not found")
        name = path.removeprefix("/api/v1/")
        if name == "unlock" and request.method == "POST":
            return await self._unlock(request)
        if name == "info":
            return json_response(self._info_doc())
        if not self._authorized(request):
            return json_response({"err": "Unauthorized"}, status=401)
        if request.method == "GET":
            if name == "summary":
                return json_response(self._summary_doc())
            if name == "settings":
                return json_response(self._settings_doc())
            if name == "autotune/presets":
                return json_response({"presets": [p.doc() for p in self.autotune]})
            if name == "perf-summary":
                return json_response(self._perf_summary_doc())
            return json_response({"err": "not found"}, status=404)
        if request.method != "POST":
            return json_response({"err": "method not allowed"}, status=405)
        return await self._action(name, request)

    async def _unlock(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await _json_body(request)
        if body is None or body.get("pw") != self.password:
            return json_response({"err": "Wrong password"}, status=401)
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return json_response({"token": token})

    def _authorized(self, request: web.BaseRequest) -> bool:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ").strip() in self.tokens

    async def _action(self, name: str, request: web.BaseRequest) -> web.StreamResponse:
        if name == "system/reboot":
            self.restart(self.reboot_downtime)
            self.tokens.clear()  # a rebooted web server forgets its sessions
            return json_response({})
        if name in ("mining/restart", "mining/start"):
            self.restart()
            self.set_paused(False)
            return json_response({})
        if name in ("mining/pause", "mining/stop"):
            self.set_paused(True)
            return json_response({})
        if name == "mining/resume":
            self.set_paused(False)
            return json_response({})
        if name == "find-miner":
            self.blink = not self.blink
            return json_response({"on": self.blink})
        if name == "settings":
            return await self._post_settings(request)
        return json_response({"err": "not found"}, status=404)

    async def _post_settings(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await _json_body(request)
        miner = body.get("miner") if body is not None else None
        if not isinstance(miner, dict):
            return json_response({"err": "invalid settings"}, status=400)
        pools = miner.get("pools")
        restart = False
        if pools is not None:
            try:
                parsed = [(str(p["url"]), str(p["user"]), str(p.get("pass", "x")))
                          for p in pools if p.get("url")]  # fmt: skip
            except (TypeError, KeyError, AttributeError):
                return json_response({"err": "invalid pools"}, status=400)
            if not parsed:
                return json_response({"err": "no pools"}, status=400)
            # VNish saves the pools and restarts its miner on them.
            self.save_conf(parsed, None)
            restart = True
        overclock = miner.get("overclock")
        if isinstance(overclock, dict) and overclock.get("preset") is not None:
            name = str(overclock["preset"])
            if name != self.preset_watts:
                if not self.apply_preset(name):
                    return json_response({"err": f"unknown preset {name}"}, status=400)
                restart = True
        return json_response({"restart_required": restart, "reboot_required": False})

    def _info_doc(self) -> dict[str, Any]:
        return {
            "miner": self.preset.model, "model": self.preset.model.removeprefix("Antminer "),
            "fw_name": "Vnish", "fw_version": VNISH_VERSION, "build_time": "2024-03-11",
            "platform": "xil", "install_type": "nand", "serial": self.serial,
            "system": {"network_status": self._network()},
        }  # fmt: skip

    def _network(self) -> dict[str, Any]:
        return {"mac": self.mac, "dhcp": True, "ip": self.address, "netmask": "255.255.255.0",
                "hostname": self.hostname}  # fmt: skip

    def _summary_doc(self) -> dict[str, Any]:
        live = self.live(self.clock())
        state = "paused" if self.paused else "mining"
        fault = self.faults.fault
        chains = []
        for b, rate in enumerate(live.rates):
            dead = live.chips[b] == 0
            chains.append(
                {"id": b + 1, "frequency": 0 if dead else self.preset.freq,
                 "hashrate_ideal": round(live.ideal_board, 2), "hashrate_rt": round(rate, 2),
                 "power_consumption": 0 if dead else round(live.power / len(live.rates)),
                 "pcb_temp": {"min": min(live.pcb[b]), "max": max(live.pcb[b])},
                 "chip_temp": {"min": min(live.chip[b]), "max": max(live.chip[b])},
                 "chip_statuses": {"red": 0, "orange": 0, "grey": 0 if not dead else 1},
                 "status": {"state": "failure" if dead else state,
                            "description": "no chips found" if dead else ""}}
            )  # fmt: skip
        pools = []
        for n, pool in enumerate(self.pools):
            status = "offline" if fault is Fault.POOL_DOWN else "working"
            pools.append({"id": n, "url": pool.url, "user": pool.user, "status": status,
                          "accepted": pool.counter.accepted(live.now),
                          "rejected": pool.counter.rejected(live.now)})  # fmt: skip
        miner = {
            "miner_status": {"miner_state": state, "miner_state_time": live.elapsed},
            "miner_type": self.miner_type, "hardware_version": "uart_trans.1.3",
            "average_hashrate": round(live.total / 1000.0, 2),
            "instant_hashrate": round(live.total / 1000.0, 2),
            "hr_nominal": round(live.ideal_board * len(live.rates) / 1000.0, 2),
            "power_usage": round(live.power), "power_efficiency":
                round(live.power / max(live.total / 1000.0, 0.001), 1),
            "cooling": {"fan_num": len(live.fans),
                        "fans": [{"id": i, "rpm": rpm, "status": "ok"}
                                 for i, rpm in enumerate(live.fans)]},
            "pools": pools, "chains": chains,
        }  # fmt: skip
        system = {"os": "GNU/Linux", "uptime": live.elapsed, "network_status": self._network()}
        return {"miner": miner, "system": system}

    def _perf_summary_doc(self) -> dict[str, Any]:
        active = self.active_preset()
        current = active.doc() if active is not None else {
            "name": STOCK_PRESET, "pretty": "Disabled", "status": "untuned",
            "modded_psu_required": False}  # fmt: skip
        switcher = {"enabled": False, "top_preset": None, "decrease_temp": 75,
                    "rise_temp": 55, "check_time": 300, "min_preset": None}  # fmt: skip
        return {"current_preset": current, "preset_switcher": switcher}

    def _settings_doc(self) -> dict[str, Any]:
        pools = [{"url": p.url, "user": p.user, "pass": p.password, "order": n}
                 for n, p in enumerate(self.pools)]  # fmt: skip
        return {"miner": {"pools": pools, "overclock": {"preset": self.preset_watts}},
                "network": {"hostname": self.hostname}}  # fmt: skip


async def _json_body(request: web.BaseRequest) -> dict[str, Any] | None:
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return None
    return body if isinstance(body, dict) else None


@dataclass(slots=True)
class VnishHost:
    """Serves simulated VNish miners: each its own cgminer listener, the web on one server."""

    http: HttpSimServer = field(default_factory=HttpSimServer)
    sims: list[SimDevice] = field(default_factory=list)

    async def add(self, sim: SimDevice) -> None:
        """Open ``sim``'s cgminer listener and its web port; ``OSError`` if taken."""
        await sim.start()
        self.sims.append(sim)
        await self.http.add(sim, getattr(sim, "web_port", WEB_PORT))

    async def close(self) -> None:
        """Stop every simulator and the web server."""
        await self.http.close()
        for sim in self.sims:
            await sim.stop()
        self.sims.clear()


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> VnishSim:
    """One simulated VNish miner (the registry's factory)."""
    return VnishSim(address, model=model, seed=seed, clock=clock)


FAMILY = SimFamily(family="vnish", models=tuple(PRESETS), create=create, host=VnishHost)
