"""A farm of simulated devices in one asyncio process, on consecutive loopback addresses,
with a small HTTP control endpoint so that other processes can flip faults at run time.

Linux routes all of 127.0.0.0/8 to the loopback interface, so each device binds its own
address on its real port (4028 and 80 for an Antminer, 8080 for XMRig) and real clients
reach it unchanged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec
from aiohttp import web

from hashfleet.sim.antminer import PRESETS, AntminerSim
from hashfleet.sim.antminer_web import WEB_PORT, AntminerWeb
from hashfleet.sim.base import Clock, SimDevice
from hashfleet.sim.faults import Fault
from hashfleet.sim.registry import SimHost, sim_family
from hashfleet.sim.xmrig import API_PORT, CPUS, XmrigServer, XmrigSim

log = logging.getLogger(__name__)

_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_START_BATCH = 256  # listeners opened concurrently; bounded to keep start-up smooth
_T = TypeVar("_T")


@dataclass(slots=True)
class FarmDevice:
    """One simulated device of the farm."""

    family: str
    address: str
    port: int
    sim: SimDevice

    def summary(self) -> dict[str, object]:
        """The device as ``GET /devices`` lists it, with the ``opts`` a thing needs."""
        return {"family": self.family, "address": self.address, "port": self.port,
                "model": self.sim.model, "fault": self.sim.fault.value,
                "opts": self.sim.thing_opts()}  # fmt: skip


def allocate(ip_base: str, count: int) -> list[str]:
    """``count`` consecutive loopback addresses from ``ip_base``, skipping ``.0`` and ``.255``."""
    try:
        first = ipaddress.IPv4Address(ip_base)
    except ValueError as exc:
        raise ValueError(f"ip_base {ip_base!r} is not an IPv4 address") from exc
    out: list[str] = []
    n = int(first)
    while len(out) < count:
        addr = ipaddress.IPv4Address(n)
        if addr not in _LOOPBACK:
            raise ValueError(f"{count} addresses from {ip_base} leave 127.0.0.0/8")
        if n & 0xFF not in (0, 255):
            out.append(str(addr))
        n += 1
    return out


class Farm:
    """Simulated devices of any families, started and stopped together.

    Antminers and XMRigs (the original two) have their own counts and options; every other
    family comes through ``mix`` (family → count), built by its :mod:`hashfleet.sim.registry`
    plug-in.
    """

    def __init__(
        self,
        antminers: int = 0,
        xmrigs: int = 0,
        *,
        mix: Mapping[str, int] | None = None,
        ip_base: str = "127.10.0.1",
        seed: int = 1,
        control: tuple[str, int] | None = None,
        models: Sequence[str] | None = None,
        family_models: Mapping[str, Sequence[str]] | None = None,
        cpus: Sequence[str] | None = None,
        web_ui: bool = True,
        xmrig_port: int = API_PORT,
        xmrig_token: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        """Antminers first, then XMRigs, then ``mix`` in order, on consecutive addresses.

        ``models``/``cpus`` are cycled over the Antminers/XMRigs (default: every preset in
        turn), ``family_models`` over the devices of other families; ``web_ui`` also serves
        the Antminer web UI on port 80 (needs root; skipped if denied); ``xmrig_token`` opens
        the XMRig API for control (pause/resume) with that token.
        """
        counts = dict(mix or {})
        if antminers < 0 or xmrigs < 0 or any(n < 0 for n in counts.values()):
            raise ValueError("device counts cannot be negative")
        plugins = {name: sim_family(name) for name in counts if counts[name]}
        addresses = allocate(ip_base, antminers + xmrigs + sum(counts.values()))
        model_cycle = itertools.cycle(models or list(PRESETS))
        cpu_cycle = itertools.cycle(cpus or list(CPUS))
        self.devices: list[FarmDevice] = []
        for i, address in enumerate(addresses[: antminers + xmrigs]):
            dev_seed = seed * 1_000_003 + i
            sim: SimDevice
            if i < antminers:
                sim = AntminerSim(address, model=next(model_cycle), seed=dev_seed, clock=clock)
            else:
                sim = XmrigSim(address, port=xmrig_port, seed=dev_seed, clock=clock,
                               cpu=next(cpu_cycle), token=xmrig_token,
                               restricted=xmrig_token is None)  # fmt: skip
            self.devices.append(FarmDevice(sim.family, address, sim.port, sim))
        i = antminers + xmrigs
        for name, plugin in plugins.items():
            wanted = (family_models or {}).get(name) or plugin.models
            variants = itertools.cycle(wanted)
            for _ in range(counts[name]):
                address = addresses[i]
                sim = plugin.create(
                    address, seed=seed * 1_000_003 + i, clock=clock, model=next(variants)
                )
                self.devices.append(FarmDevice(sim.family, address, sim.port, sim))
                i += 1
        self._plugins = plugins
        self._hosts: list[SimHost] = []
        self._by_address = {d.address: d for d in self.devices}
        self.control = control
        self.web_ui = web_ui
        self._web: AntminerWeb | None = None
        self._xmrig: XmrigServer | None = None
        self._control: web.AppRunner | None = None
        self.started = False

    def device(self, address: str) -> FarmDevice:
        """The device on ``address``; ``KeyError`` if there is none."""
        return self._by_address[address]

    def set_fault(self, address: str, fault: Fault | str) -> None:
        """Make the device on ``address`` show ``fault`` (``"none"`` heals it)."""
        self.device(address).sim.set_fault(fault)

    @property
    def control_url(self) -> str | None:
        """Base URL of the control endpoint, if one was asked for."""
        return f"http://{self.control[0]}:{self.control[1]}" if self.control else None

    async def start(self) -> None:
        """Open every listener; on failure, close what was opened and raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        self.started = True

    async def _start(self) -> None:
        # By family, not type: firmware sims (Braiins, LuxOS, VNish) subclass AntminerSim
        # but serve their own ports through their own hosts.
        antminers = [
            d.sim for d in self.devices if d.family == "antminer" and isinstance(d.sim, AntminerSim)
        ]
        xmrigs = [d.sim for d in self.devices if isinstance(d.sim, XmrigSim)]
        for batch in _batches(antminers):
            await asyncio.gather(*(sim.start() for sim in batch))
        if self.web_ui and antminers:
            await self._start_web(antminers)
        if xmrigs:
            self._xmrig = XmrigServer()
            server = self._xmrig
            for group in _batches(xmrigs):
                await asyncio.gather(*(server.add(sim) for sim in group))
        for name, plugin in self._plugins.items():
            host = plugin.host()
            self._hosts.append(host)
            members = [d.sim for d in self.devices if d.family == name]
            for chunk in _batches(members):
                await asyncio.gather(*(host.add(member) for member in chunk))
        if self.control:
            await self._start_control(*self.control)

    async def _start_web(self, antminers: list[AntminerSim]) -> None:
        self._web = AntminerWeb()
        await self._web.setup()
        try:
            await self._web.add(antminers[0])
        except PermissionError:
            log.warning("no permission to listen on port %d: Antminer web UI not simulated "
                        "(pyasic will see no per-board data)", WEB_PORT)  # fmt: skip
            await self._web.close()
            self._web = None
            return
        web_ui = self._web
        for batch in _batches(antminers[1:]):
            await asyncio.gather(*(web_ui.add(sim) for sim in batch))

    async def stop(self) -> None:
        """Close every listener, held connection and server; safe to call twice."""
        if self._control is not None:
            await self._control.cleanup()
            self._control = None
        for dev in self.devices:
            await dev.sim.stop()
        if self._web is not None:
            await self._web.close()
            self._web = None
        if self._xmrig is not None:
            await self._xmrig.close()
            self._xmrig = None
        for host in self._hosts:
            await host.close()
        self._hosts = []
        self.started = False

    # -- control endpoint ------------------------------------------------------------------

    async def _start_control(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/devices", self._http_list)
        app.router.add_get("/devices/{address}", self._http_get)
        app.router.add_post("/devices/{address}/fault", self._http_fault)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._control = runner
        await web.TCPSite(runner, host, port, reuse_address=True).start()

    async def _http_list(self, request: web.Request) -> web.Response:
        return _json([d.summary() for d in self.devices])

    async def _http_get(self, request: web.Request) -> web.Response:
        dev = self._by_address.get(request.match_info["address"])
        if dev is None:
            return _error(404, "ERR_NOTFOUND", "no simulated device on this address")
        return _json(dev.sim.info())

    async def _http_fault(self, request: web.Request) -> web.Response:
        dev = self._by_address.get(request.match_info["address"])
        if dev is None:
            return _error(404, "ERR_NOTFOUND", "no simulated device on this address")
        try:
            body = msgspec.json.decode(await request.read())
            fault = Fault.parse(body["fault"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            return _error(400, "ERR_PAYLOAD_INVALID", f'expected {{"fault": name}}: {exc}')
        dev.sim.set_fault(fault)
        return _json({"address": dev.address, "fault": fault.value})


def _batches(items: list[_T]) -> list[list[_T]]:
    return [items[i : i + _START_BATCH] for i in range(0, len(items), _START_BATCH)]


def _json(doc: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(doc), content_type="application/json"
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": code, "message": message}, status)
