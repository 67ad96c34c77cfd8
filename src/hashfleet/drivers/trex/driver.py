"""The T-Rex driver: ``GET /summary`` per poll; pause/resume over ``POST /control``, pools
and other settings over ``POST /config``.

When T-Rex runs with an API password, ``GET /login?password=…`` gives a session id that
goes with every request as ``?sid=…``; the driver logs in on first use and again when
T-Rex answers 401/403 (the session expired or T-Rex restarted).
"""

from __future__ import annotations

from typing import Any, ClassVar

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.gpu_common import decode
from hashfleet.drivers.trex.parse import parse
from hashfleet.model.snapshot import Snapshot

API_PORT = 4067


class TrexDriver:
    """Reads a T-Rex rig into a :class:`Snapshot`; pauses, resumes and re-points it."""

    family: ClassVar[str] = "trex"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"pause", "resume", "set_pools", "set_config"}
    )

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the API at ``opts.address`` (port 4067 unless ``opts.port``); the API
        password, if T-Rex has one, is ``opts.password``."""
        self.opts = opts
        self.client = HttpJsonClient(f"http://{opts.address}:{opts.port or API_PORT}", opts.timeout)
        self.sid: str | None = None

    async def _login(self) -> None:
        raw = await self.client.request(
            "GET", "/login", params={"password": self.opts.password or ""}, raw=True
        )
        reply = decode(raw)
        sid = reply.get("sid") if isinstance(reply, dict) else None
        if not isinstance(sid, str) or not sid:
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise DeviceCommandFailed(f"T-Rex login failed: {error}", command="login",
                                      http_status=403)  # fmt: skip
        self.sid = sid

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        """One request with the session id; logs in (again) once when refused."""
        if self.opts.password and self.sid is None:
            await self._login()
        for attempt in (1, 2):
            params = {"sid": self.sid} if self.sid else None
            try:
                # Raw bytes decoded here: see gpu_common.decode (invalid UTF-8).
                return decode(
                    await self.client.request(method, path, body, params=params, raw=True)
                )
            except DeviceCommandFailed as exc:
                refused = exc.details.get("http_status") in (401, 403)
                if not (refused and self.opts.password and attempt == 1):
                    raise
                self.sid = None
                await self._login()
        raise AssertionError("unreachable")  # pragma: no cover

    async def collect(self) -> Snapshot:
        """Poll once."""
        return parse(await self._call("GET", "/summary"))

    async def _command(self, path: str, body: dict[str, Any], what: str) -> None:
        reply = await self._call("POST", path, body)
        if not isinstance(reply, dict):
            raise DeviceReplyInvalid(f"{what}: reply is not an object")
        if reply.get("success") != 1:
            raise DeviceCommandFailed(f"{what}: {reply.get('error')}", command=what)

    async def pause(self) -> None:
        """Stop hashing on every card (T-Rex keeps its pool connection)."""
        await self._command("/control", {"pause": "true"}, "pause")

    async def resume(self) -> None:
        """Hash again after :meth:`pause`."""
        await self._command("/control", {"pause": "false"}, "resume")

    async def set_pools(self, pools: list[PoolTarget]) -> None:
        """Make ``pools`` T-Rex's pool list, in failover order."""
        if not pools:
            raise DeviceCommandFailed("set_pools: no pool given", command="set_pools")
        doc = [{"url": p.url, "user": p.user, "pass": p.password} for p in pools]
        await self._command("/config", {"pools": doc}, "set_pools")

    async def set_config(self, doc: dict[str, Any]) -> None:
        """Send config keys to T-Rex (``POST /config``; keys not given are kept)."""
        if not isinstance(doc, dict) or not doc:
            raise DeviceCommandFailed("set_config: the config must be a non-empty object",
                                      command="set_config")  # fmt: skip
        await self._command("/config", doc, "set_config")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
