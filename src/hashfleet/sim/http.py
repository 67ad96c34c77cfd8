"""One aiohttp server answering the HTTP APIs of many simulated devices, a listener each.

The handler picks the device by the local address of the connection, applies the transport
faults every HTTP device shares (``refuse`` resets, ``hang`` never answers, ``garbage``
answers bytes that are not JSON) and hands everything else to the device's own handler.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from hashfleet.sim.base import Listener, SimDevice
from hashfleet.sim.faults import GARBAGE_BYTES, Fault

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def json_response(doc: Any, status: int = 200) -> web.Response:
    """``doc`` as an ``application/json`` response."""
    return web.Response(
        status=status, body=msgspec.json.encode(doc), content_type="application/json"
    )


class HttpSimDevice(SimDevice):
    """A simulated device whose API is HTTP; subclasses answer :meth:`handle`."""

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request that passed the transport faults."""
        raise NotImplementedError

    def garbage(self) -> web.StreamResponse:
        """What the ``garbage`` fault answers (bytes that are not the API's JSON)."""
        return web.Response(body=GARBAGE_BYTES, content_type="application/json")


class HttpSimServer:
    """Serves many :class:`HttpSimDevice` on ``(address, port)`` listeners of one server."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Empty; add devices with :meth:`add`. ``ssl_context`` serves HTTPS."""
        self._sims: dict[tuple[str, int], HttpSimDevice] = {}
        self._runner: web.ServerRunner | None = None
        self._ssl = ssl_context

    async def add(self, sim: SimDevice, port: int | None = None) -> None:
        """Listen on ``sim.address:port`` (default ``sim.port``); ``OSError`` if taken.

        A device may be added more than once on different ports (a web UI and an API).
        """
        if not isinstance(sim, HttpSimDevice):
            raise TypeError(f"{type(sim).__name__} is not an HttpSimDevice")
        if self._runner is None:
            server = web.Server(self._handle, access_log=None)
            self._runner = web.ServerRunner(server, shutdown_timeout=0.5)
            await self._runner.setup()
        assert self._runner.server is not None
        port = sim.port if port is None else port
        listener = Listener(sim.address, port, self._runner.server, self._ssl)
        sim.listeners.append(listener)
        self._sims[(sim.address, port)] = sim
        await listener.start()
        if sim.fault is Fault.REFUSE:
            listener.close_now()

    async def close(self) -> None:
        """Stop every listener and the server."""
        for sim in set(self._sims.values()):
            await sim.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        sim = self._sims.get((sockname[0], sockname[1])) if sockname else None
        if sim is None or transport is None:
            return web.Response(status=404, text="no such device")
        if not sim.admit(transport):
            return web.Response(status=503)  # never sent: admit() reset the connection
        if sim.fault is Fault.HANG:
            await sim.hung()
            return web.Response(status=503)
        if sim.fault is Fault.GARBAGE:
            return sim.garbage()
        return await sim.handle(request)
