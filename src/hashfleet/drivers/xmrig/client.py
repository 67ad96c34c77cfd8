"""Client of the XMRig HTTP API (``/2/summary``, ``/2/backends``, ``/json_rpc``).

One aiohttp session per device, created on first use and kept alive between polls;
everything goes through :meth:`XmrigClient.request`, the single place where network
failures, HTTP statuses and malformed bodies become our own error types.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)

API_PORT = 8080
MAX_REPLY = 4 * 1024 * 1024

_decoder = msgspec.json.Decoder()


class XmrigClient:
    """One XMRig's HTTP API; timeouts, the retry and error translation live here."""

    def __init__(
        self, host: str, port: int = API_PORT, timeout: float = 5.0, token: str | None = None
    ) -> None:
        """Talk to ``http://host:port``; ``token`` is sent as ``Authorization: Bearer``."""
        self.base = f"http://{host}:{port}"
        self.timeout = timeout
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
            # One device, one connection: a poll never needs two at once.
            connector = aiohttp.TCPConnector(limit=1, use_dns_cache=False)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=headers, raise_for_status=False
            )
        return self._session

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send ``method path`` (JSON ``body`` if given) and return the decoded JSON.

        Raises ``DeviceTimeout``, ``DeviceOffline`` (refused, reset; retried once, writes
        only when the connection could not be made), ``DeviceCommandFailed`` (HTTP error
        status, with ``details["http_status"]``) and ``DeviceReplyInvalid`` (not JSON).
        """
        write = method != "GET"
        data = msgspec.json.encode(body) if body is not None else None
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    status, raw = await self._send(method, path, data)
                except aiohttp.ClientConnectorError:
                    status, raw = await self._send(method, path, data)
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    if write:
                        raise
                    # A kept-alive connection the device had dropped: one fresh try.
                    status, raw = await self._send(method, path, data)
        except TimeoutError as exc:
            raise DeviceTimeout(
                f"{self.base} did not answer {method} {path} within {self.timeout} s"
            ) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise DeviceOffline(f"{self.base}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise DeviceReplyInvalid(f"{self.base}: not a valid HTTP reply: {exc}") from exc
        if status >= 400:
            raise DeviceCommandFailed(
                f"{method} {path}: HTTP {status}", http_status=status, command=path
            )
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise DeviceReplyInvalid(f"{method} {path}: body is not JSON: {exc}") from exc

    async def _send(self, method: str, path: str, data: bytes | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if data is not None else None
        session = self._get_session()
        async with session.request(method, self.base + path, data=data, headers=headers) as resp:
            if (resp.content_length or 0) > MAX_REPLY:
                raise DeviceReplyInvalid(f"{method} {path}: reply larger than {MAX_REPLY} bytes")
            return resp.status, await resp.read()

    async def close(self) -> None:
        """Close the session and its kept-alive connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None
