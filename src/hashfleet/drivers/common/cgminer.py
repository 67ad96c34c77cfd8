"""Client of the cgminer JSON API on TCP 4028 (bmminer, btminer, Avalon, BOSminer, LUXminer,
VNish, TeamRedMiner…): one request per connection.

Everything goes through :meth:`CgminerClient.request`, the single place where network
failures, malformed replies and error statuses become our own error types.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import msgspec

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)

API_PORT = 4028
MAX_REPLY = 4 * 1024 * 1024  # a runaway device must not eat the agent's memory
# Error statuses that only mean "nothing to list" (no pools, no devices), not a failure.
EMPTY_CODES = frozenset({8, 10})
_RETRY_DELAY = 0.02

_decoder = msgspec.json.Decoder()
_encode = msgspec.json.encode


class _ConnectFailed(Exception):
    """The TCP connection could not be made (nothing was sent)."""


class _Exchange(asyncio.Protocol):
    """Send one request, collect the reply until the device closes the connection."""

    __slots__ = ("_chunks", "_done", "_payload", "_size", "transport")

    def __init__(self, payload: bytes, done: asyncio.Future[bytes]) -> None:
        self._payload = payload
        self._done = done
        self._chunks: list[bytes] = []
        self._size = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the request at once; bmminer answers without waiting for EOF."""
        # Duck-typed: uvloop's TCP transports are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._payload)

    def data_received(self, data: bytes) -> None:
        """Collect a chunk of the reply."""
        self._chunks.append(data)
        self._size += len(data)
        if self._size > MAX_REPLY and self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool:
        """The device closed its side: the reply is complete."""
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        """Hand over the reply, or the error if nothing arrived."""
        if self._done.done():
            return
        if exc is not None and not self._chunks:
            self._done.set_exception(exc)
        else:
            self._done.set_result(b"".join(self._chunks))


class CgminerClient:
    """One device's cgminer-style API; timeouts, retries and errors handled in one place."""

    def __init__(self, host: str, port: int = API_PORT, timeout: float = 5.0) -> None:
        """Talk to ``host:port``; ``timeout`` bounds each request, retry included."""
        self.host = host
        self.port = port
        self.timeout = timeout

    async def request(
        self, command: str, parameter: str | None = None, *, write: bool = False
    ) -> dict[str, Any]:
        """Send ``command`` and return the decoded reply.

        Raises ``DeviceTimeout`` (no answer in time), ``DeviceOffline`` (refused, reset,
        unreachable; retried once, and for ``write`` commands only when nothing was sent),
        ``DeviceReplyInvalid`` (not a cgminer JSON object) and ``DeviceCommandFailed``
        (``STATUS`` E or F, with ``details["status_code"]``).
        """
        req: dict[str, str] = {"command": command}
        if parameter is not None:
            req["parameter"] = parameter
        raw = await self.send(_encode(req), what=command, write=write)
        data = decode_reply(raw)
        check_status(data, command)
        return data

    async def send(self, payload: bytes, *, what: str = "request", write: bool = False) -> bytes:
        """Send raw ``payload`` on a new connection and return the raw reply bytes.

        The transport under :meth:`request`, for families that speak another encoding on the
        same one-request-per-connection socket (cgminer's text API, encrypted envelopes).
        Raises ``DeviceTimeout`` and ``DeviceOffline`` as :meth:`request` does.
        """
        try:
            async with asyncio.timeout(self.timeout):
                return await self._send_with_retry(payload, write)
        except TimeoutError as exc:
            raise DeviceTimeout(
                f"{self.host}:{self.port} did not answer {what!r} within {self.timeout} s"
            ) from exc

    async def _send_with_retry(self, payload: bytes, write: bool) -> bytes:
        try:
            return await self._exchange(payload)
        except _ConnectFailed:
            pass  # nothing was sent: safe to retry any command
        except OSError as exc:
            if write:  # the command may have run; do not run it twice
                raise DeviceOffline(f"{self.host}:{self.port}: {exc}") from exc
        await asyncio.sleep(_RETRY_DELAY)
        try:
            return await self._exchange(payload)
        except _ConnectFailed as exc:
            cause = exc.__cause__ or exc
            raise DeviceOffline(f"{self.host}:{self.port}: {cause}") from cause
        except OSError as exc:
            raise DeviceOffline(f"{self.host}:{self.port}: {exc}") from exc

    async def _exchange(self, payload: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                lambda: _Exchange(payload, done), self.host, self.port
            )
        except OSError as exc:  # refused, unreachable, kernel connect timeout
            raise _ConnectFailed(str(exc)) from exc
        try:
            raw = await done
        finally:
            transport.abort()  # no-op once closed; frees the socket on timeout
        if not raw:
            raise ConnectionResetError("connection closed without a reply")
        return raw


def decode_reply(raw: bytes) -> dict[str, Any]:
    """Bytes from the device → JSON object; tolerates NUL terminators and bmminer quirks."""
    body = raw.rstrip(b"\x00 \t\r\n")
    try:
        data = _decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):  # bad UTF-8 inside a string too
        data = _decode_quirky(body)
    if not isinstance(data, dict):
        raise DeviceReplyInvalid(f"expected a JSON object, got {type(data).__name__}")
    return data


def _decode_quirky(body: bytes) -> Any:
    # Slow path, only when the strict parse failed: repair what real firmwares send.
    text = body.decode("utf-8", errors="replace").replace("\x00", "")
    stripped = text.strip()
    if stripped.startswith('{"RESTART"') or stripped.startswith('{"BYE"'):
        # cgminer answers restart/quit with '{"RESTART","id":1}', which is not JSON.
        return {"STATUS": stripped[2:].split('"', 1)[0], "id": 1}
    text = text.replace("}{", "},{").replace("[,{", "[{").replace(",}", "}").replace(",]", "]")
    try:
        return json.loads(text, strict=False)
    except ValueError as exc:
        preview = body[:60]
        raise DeviceReplyInvalid(f"reply is not JSON: {exc} (starts {preview!r})") from exc


def check_status(data: dict[str, Any], command: str) -> None:
    """Raise ``DeviceCommandFailed`` for STATUS E/F (a joined reply: in any part)."""
    if "STATUS" in data:
        _check_one(data["STATUS"], command)
        return
    for key, part in data.items():
        if key == "id":
            continue
        if not isinstance(part, list) or not part or not isinstance(part[0], dict):
            raise DeviceReplyInvalid(f"joined reply part {key!r} is not a one-reply list")
        if "STATUS" not in part[0]:
            raise DeviceReplyInvalid(f"joined reply part {key!r} has no STATUS")
        _check_one(part[0]["STATUS"], key)


def _check_one(status: Any, command: str) -> None:
    if isinstance(status, str):
        if status in ("RESTART", "BYE"):
            return
        raise DeviceReplyInvalid(f"{command}: unexpected STATUS {status!r}")
    if isinstance(status, list):
        if not status:
            raise DeviceReplyInvalid(f"{command}: empty STATUS")
        status = status[0]
    if not isinstance(status, dict):
        raise DeviceReplyInvalid(f"{command}: STATUS is not an object")
    if status.get("STATUS") in ("E", "F"):
        code = status.get("Code")
        try:
            status_code = int(code) if code is not None else None
        except (TypeError, ValueError):
            status_code = None
        if status_code in EMPTY_CODES:
            return
        msg = str(status.get("Msg", "error"))
        raise DeviceCommandFailed(
            f"{command}: {msg}", status_code=status_code, status_msg=msg, command=command
        )
