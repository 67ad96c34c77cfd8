"""What every simulator shares: drifting values, share counters, re-openable listeners and
the per-device life cycle (uptime, reboots, faults, held connections).

Values are computed lazily from the clock when a request arrives, never by background
tasks, so a thousand idle simulated devices cost nothing but their sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import ClassVar

from hashfleet.sim.faults import Fault, FaultState

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ProtocolFactory = Callable[[], asyncio.BaseProtocol]

_TAU = 2 * math.pi
_LINGER_RST = struct.pack("ii", 1, 0)


def noise(seed: int, key: int, bucket: int) -> float:
    """Deterministic pseudo-random value in [-1, 1) for ``(seed, key, bucket)``, no RNG state."""
    # Tuple-of-int hashes do not depend on PYTHONHASHSEED, so runs are reproducible.
    return (hash((seed, key, bucket)) & 0xFFFFFF) / 0x800000 - 1.0


def wobble(seed: int, key: int, t: float, period: float = 300.0) -> float:
    """Smooth drift in about [-1, 1]: a slow sine, a faster one and a 5-second step noise."""
    phase = (seed * 0.6180339 + key * 1.3247) % 1.0 * _TAU
    return (
        0.6 * math.sin(_TAU * t / period + phase)
        + 0.25 * math.sin(_TAU * t / (period / 7.3) + 2 * phase)
        + 0.15 * noise(seed, key, int(t // 5))
    )


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST, as a crashing daemon or a host with nothing listening does."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


class ShareCounter:
    """Accepted/rejected shares that grow with time while ``running``; read lazily."""

    __slots__ = ("banked", "rate", "reject_ratio", "running", "since")

    def __init__(self, rate: float, reject_ratio: float, now: float, banked: float = 0.0) -> None:
        """``rate`` shares per second; ``reject_ratio`` of them are rejected."""
        self.rate = rate
        self.reject_ratio = reject_ratio
        self.banked = banked
        self.since = now
        self.running = True

    def total(self, now: float) -> float:
        """Shares found so far (a float; callers truncate)."""
        if not self.running:
            return self.banked
        return self.banked + max(0.0, now - self.since) * self.rate

    def accepted(self, now: float) -> int:
        """Accepted shares at ``now``."""
        return int(self.total(now) * (1.0 - self.reject_ratio))

    def rejected(self, now: float) -> int:
        """Rejected shares at ``now``."""
        return int(self.total(now) * self.reject_ratio)

    def set_running(self, now: float, running: bool) -> None:
        """Bank what was found under the old state, then grow (or not) from ``now``."""
        self.banked = self.total(now)
        self.since = now
        self.running = running

    def reset(self, now: float) -> None:
        """Back to zero, as after a restart of the mining process."""
        self.banked = 0.0
        self.since = now


class Listener:
    """One TCP listener that can close (the device refuses) and open again at run time.

    Binding and ``listen()`` happen synchronously, so a device is reachable again the
    moment its fault is lifted; asyncio starts accepting from the backlog right after.
    """

    def __init__(
        self,
        host: str,
        port: int,
        factory: ProtocolFactory,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Listen on ``host:port`` with ``factory`` once started (TLS with ``ssl_context``)."""
        self.host = host
        self.port = port
        self._factory = factory
        self._ssl = ssl_context
        self._sock: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._active = False  # between start() and stop()

    @property
    def listening(self) -> bool:
        """Whether the socket is open now."""
        return self._sock is not None

    async def start(self) -> None:
        """Open the socket; raises ``OSError`` (address in use, permission) to the caller."""
        self._active = True
        self._open()
        if self._task is not None:
            await self._task

    def _open(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._task = asyncio.get_running_loop().create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        try:
            server = await asyncio.get_running_loop().create_server(
                self._factory, sock=sock, ssl=self._ssl
            )
        except (OSError, ValueError):
            if self._sock is sock:
                raise
            return  # the socket was closed (refuse) before asyncio could serve it
        if self._sock is sock:
            self._server = server
        else:
            server.close()  # closed again while asyncio was setting up

    def close_now(self) -> None:
        """Close the socket at once; new connections are refused from here on."""
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        self._server = None
        self._sock = None

    def want(self, listening: bool) -> None:
        """Open or close the socket now (callers are synchronous fault switches)."""
        if not listening:
            self.close_now()
        elif self._active and self._sock is None:
            try:
                self._open()
            except OSError as exc:
                log.warning("cannot listen again on %s:%s: %s", self.host, self.port, exc)

    async def stop(self) -> None:
        """Close for good."""
        self._active = False
        if self._task is not None and not self._task.done():
            with contextlib.suppress(OSError):
                await self._task
        self.close_now()


class SimDevice:
    """Life cycle shared by simulated devices: uptime, reboots, faults, held connections."""

    family: ClassVar[str] = ""

    def __init__(self, address: str, port: int, *, seed: int, clock: Clock = time.time) -> None:
        """A device on ``address:port`` whose values derive from ``seed`` and ``clock``."""
        self.address = address
        self.port = port
        self.seed = seed
        self.clock = clock
        self.faults = FaultState(clock)
        self.faults.watch(self._fault_changed)
        self.listeners: list[Listener] = []
        self._held: set[asyncio.BaseTransport] = set()
        self._release = asyncio.Event()
        rng = random.Random(seed)
        self.boot_at = clock() - rng.uniform(2 * 3600.0, 20 * 86400.0)
        self.down_until = 0.0
        self.reboots = 0

    @property
    def fault(self) -> Fault:
        """The fault shown now."""
        return self.faults.fault

    def set_fault(self, fault: Fault | str) -> None:
        """Show ``fault`` from now on (``"none"`` heals)."""
        self.faults.set(fault)

    def uptime(self, now: float) -> int:
        """Seconds since the (simulated) mining process started."""
        return max(0, int(now - self.boot_at))

    def restart(self, downtime: float = 0.0) -> None:
        """Restart the mining process: uptime from 0, counters reset, ``downtime`` s refused."""
        now = self.clock()
        self.boot_at = now + downtime
        self.down_until = now + downtime
        self.reboots += 1
        self._restarted(now)

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Whether a new connection may be served; refused ones are reset here."""
        if self.faults.fault is Fault.REFUSE or self.clock() < self.down_until:
            reset_transport(transport)
            return False
        return True

    def hold(self, transport: asyncio.BaseTransport) -> None:
        """Keep a connection open without answering (the ``hang`` fault)."""
        self._held.add(transport)

    def forget(self, transport: asyncio.BaseTransport) -> None:
        """The connection is gone; stop tracking it."""
        self._held.discard(transport)

    async def hung(self) -> None:
        """Wait until the ``hang`` fault is lifted or the device stops (HTTP handlers)."""
        await self._release.wait()

    @property
    def model(self) -> str:
        """The model (or software) this device simulates; subclasses say which."""
        return self.family

    def thing_opts(self) -> dict[str, object]:
        """The ``opts`` a thing needs for a driver to poll this device (``registerThing``)."""
        return {"family": self.family, "address": self.address, "port": self.port}

    def info(self) -> dict[str, object]:
        """The state the control endpoint shows."""
        now = self.clock()
        return {
            "family": self.family,
            "model": self.model,
            "address": self.address,
            "port": self.port,
            "fault": self.faults.fault.value,
            "reboots": self.reboots,
            "uptime_s": self.uptime(now),
        }

    async def start(self) -> None:
        """Open every listener of this device."""
        self._release = asyncio.Event()
        for listener in self.listeners:
            await listener.start()
        if self.faults.fault is Fault.REFUSE:
            for listener in self.listeners:
                listener.close_now()

    async def stop(self) -> None:
        """Close listeners and drop held connections."""
        for listener in self.listeners:
            await listener.stop()
        self._drop_held()

    def _fault_changed(self, fault: Fault) -> None:
        self._faults_changed(self.clock())
        for listener in self.listeners:
            listener.want(fault is not Fault.REFUSE)
        if fault is not Fault.HANG:
            self._drop_held()

    def _drop_held(self) -> None:
        # A device that recovers from a hang has dropped the connections it sat on.
        for transport in list(self._held):
            reset_transport(transport)
        self._held.clear()
        self._release.set()
        self._release = asyncio.Event()

    def _faults_changed(self, now: float) -> None:
        """Subclasses bank share counters and the like when the fault changes."""

    def _restarted(self, now: float) -> None:
        """Subclasses reset their counters after :meth:`restart`."""
