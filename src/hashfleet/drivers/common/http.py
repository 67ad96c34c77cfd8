"""Client of a device's JSON-over-HTTP API (mining software, ASIC web UIs, pool APIs).

One aiohttp session per device, created on first use and kept alive between polls;
everything goes through :meth:`HttpJsonClient.request`, the single place where network
failures, HTTP statuses and malformed bodies become our own error types.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)

MAX_REPLY = 4 * 1024 * 1024  # a runaway device must not eat the agent's memory

_decoder = msgspec.json.Decoder()


class HttpJsonClient:
    """One device's HTTP API at ``base`` (``http://host:port``); timeouts, the retry and
    error translation live here."""

    def __init__(
        self,
        base: str,
        timeout: float = 5.0,
        *,
        headers: Mapping[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        ssl_context: ssl.SSLContext | None = None,
        digest: tuple[str, str] | None = None,
        cookies: bool = False,
    ) -> None:
        """Talk to ``base``; ``headers`` go with every request (tokens), ``auth`` is HTTP
        Basic, ``digest`` is ``(user, password)`` for HTTP Digest, ``ssl_context`` is for
        HTTPS with client certificates or a pinned CA; ``cookies`` keeps the session cookies
        a web UI sets at login (also for hosts given as IP addresses, which aiohttp's default
        jar drops)."""
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.auth = auth
        self.ssl_context = ssl_context
        self.digest = digest
        self.cookies = cookies
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One device, one connection: a poll never needs two at once.
            tls = self.ssl_context if self.ssl_context is not None else True
            connector = aiohttp.TCPConnector(limit=1, use_dns_cache=False, ssl=tls)
            middlewares: tuple[Any, ...] = ()
            if self.digest is not None:
                middlewares = (aiohttp.DigestAuthMiddleware(*self.digest),)
            jar: aiohttp.abc.AbstractCookieJar = (
                aiohttp.CookieJar(unsafe=True) if self.cookies else aiohttp.DummyCookieJar()
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=jar,
                headers=self.headers,
                auth=self.auth,
                raise_for_status=False,
                middlewares=middlewares,
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Send ``method path`` and return the decoded JSON (``raw=True``: the bytes).

        ``body`` is sent as JSON, ``form`` as ``application/x-www-form-urlencoded``.
        Raises ``DeviceTimeout``, ``DeviceOffline`` (refused, reset; retried once, writes
        only when the connection could not be made), ``DeviceCommandFailed`` (HTTP error
        status, with ``details["http_status"]``) and ``DeviceReplyInvalid`` (not JSON).
        """
        write = method != "GET"
        data: bytes | Mapping[str, str] | None = None
        headers: dict[str, str] | None = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers = {"Content-Type": "application/json"}
        elif form is not None:
            data = form
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    status, payload = await self._send(method, path, data, headers, params)
                except aiohttp.ClientConnectorError:
                    status, payload = await self._send(method, path, data, headers, params)
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    if write:
                        raise
                    # A kept-alive connection the device had dropped: one fresh try.
                    status, payload = await self._send(method, path, data, headers, params)
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
        if raw:
            return payload
        try:
            return _decoder.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DeviceReplyInvalid(f"{method} {path}: body is not JSON: {exc}") from exc

    async def _send(
        self,
        method: str,
        path: str,
        data: bytes | Mapping[str, str] | None,
        headers: dict[str, str] | None,
        params: Mapping[str, str] | None,
    ) -> tuple[int, bytes]:
        session = self._get_session()
        async with session.request(
            method, self.base + path, data=data, headers=headers, params=params
        ) as resp:
            if (resp.content_length or 0) > MAX_REPLY:
                raise DeviceReplyInvalid(f"{method} {path}: reply larger than {MAX_REPLY} bytes")
            if resp.content_length is not None:
                return resp.status, await resp.read()  # bounded above; the fast path
            # Chunked or close-delimited: count as it comes, so a runaway body is cut.
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(65536):
                size += len(chunk)
                if size > MAX_REPLY:
                    raise DeviceReplyInvalid(
                        f"{method} {path}: reply larger than {MAX_REPLY} bytes"
                    )
                chunks.append(chunk)
            return resp.status, b"".join(chunks)

    async def close(self) -> None:
        """Close the session and its kept-alive connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None
