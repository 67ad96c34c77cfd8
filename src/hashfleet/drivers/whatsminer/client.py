"""Transports of the btminer API: API 2.x on TCP 4028 (plain JSON reads, encrypted writes
with a token) and API 3 on TCP 4433 (length-prefixed JSON).

Every failure becomes one of our DeviceError types here: refused/reset → DeviceOffline,
no answer in time → DeviceTimeout, undecodable → DeviceReplyInvalid, an error status →
DeviceCommandFailed with ``details["status_code"]``.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import msgspec

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.common.cgminer import CgminerClient
from hashfleet.drivers.whatsminer import crypto
from hashfleet.drivers.whatsminer.parse import decode_json

TOKEN_TTL = 1800.0  # btminer tokens are good for 30 minutes
TOKEN_MARGIN = 60.0  # fetch a new one a little before the device drops it
TOKEN_BACKOFF = 300.0  # after "token over max times", do not ask again for this long
CODE_OK = 131
CODE_TOKEN = 134
CODE_TOKEN_INVALID = 135  # "check token err": expired or unknown token
CODE_TOKEN_LIMIT = 136  # "token over max times"
MAX_FRAME = 4 * 1024 * 1024

_encode = msgspec.json.encode


def check_bare(reply: dict[str, Any], command: str) -> dict[str, Any]:
    """Raise for a bare btminer status object (``get_*``, writes) with STATUS E/F."""
    status = reply.get("STATUS")
    if status in ("E", "F"):
        code = reply.get("Code")
        msg = str(reply.get("Msg", "error"))
        raise DeviceCommandFailed(f"{command}: {msg} (code {code})", command=command,
                                  status_code=code if isinstance(code, int) else None,
                                  status_msg=msg)  # fmt: skip
    return reply


class BtminerV2Client:
    """API 2.x: one request per connection; writes encrypted with a cached token."""

    def __init__(self, host: str, port: int, timeout: float, password: str) -> None:
        """Talk to ``host:port`` with the admin ``password`` for writes."""
        self.raw = CgminerClient(host, port, timeout)
        self.password = password
        self._token: tuple[str, bytes, float] | None = None  # sign, AES key, expiry
        self._blocked_until = 0.0

    async def request(self, command: str) -> dict[str, Any]:
        """Send a plain read ``command`` and return the decoded reply (status checked)."""
        raw = await self.raw.send(_encode({"cmd": command}), what=command)
        return decode_json(raw)

    async def _token_now(self) -> tuple[str, bytes]:
        now = time.monotonic()
        if self._token is not None and self._token[2] > now:
            return self._token[0], self._token[1]
        if now < self._blocked_until:
            left = int(self._blocked_until - now)
            raise DeviceCommandFailed(
                f"get_token: the miner refused more tokens (token over max times); "
                f"not asking again for {left} s", command="get_token",
                status_code=CODE_TOKEN_LIMIT)  # fmt: skip
        reply = await self.request("get_token")
        if reply.get("Code") == CODE_TOKEN_LIMIT:
            self._blocked_until = now + TOKEN_BACKOFF
            raise DeviceCommandFailed(
                "get_token: the miner hands out only a few tokens per 30 minutes "
                f"(code 136, token over max times); backing off for {int(TOKEN_BACKOFF)} s",
                command="get_token", status_code=CODE_TOKEN_LIMIT)  # fmt: skip
        check_bare(reply, "get_token")
        msg = reply.get("Msg")
        if not isinstance(msg, dict) or not all(
            isinstance(msg.get(k), str) for k in ("time", "salt", "newsalt")
        ):
            raise DeviceReplyInvalid(f"get_token: unexpected Msg {msg!r:.80}")
        key = crypto.password_key(self.password, msg["salt"])
        token = crypto.sign(key, msg["time"], msg["newsalt"])
        self._token = (token, crypto.aes_key(key), now + TOKEN_TTL - TOKEN_MARGIN)
        return token, self._token[1]

    async def write(self, command: str, **args: Any) -> dict[str, Any]:
        """Run an encrypted write command; a rejected (expired) token is renewed once."""
        for attempt in (0, 1):
            token, aes = await self._token_now()
            body = _encode({"cmd": command, **args, "token": token})
            payload = _encode({"enc": 1, "data": crypto.encrypt(aes, body)})
            raw = await self.raw.send(payload, what=command, write=True)
            reply = decode_json(raw)
            if reply.get("Code") == CODE_TOKEN_INVALID and attempt == 0:
                self._token = None  # expired on the device (rebooted, or older than 30 min)
                continue
            enc = reply.get("enc")
            if isinstance(enc, str):
                try:
                    reply = decode_json(crypto.decrypt(aes, enc))
                except ValueError as exc:
                    raise DeviceReplyInvalid(f"{command}: cannot decrypt reply: {exc}") from exc
            return check_bare(reply, command)
        raise AssertionError("unreachable")  # pragma: no cover


class BtminerV3Client:
    """API 3: ``<u32 LE length><JSON>`` frames, one request per connection."""

    def __init__(self, host: str, port: int, timeout: float, password: str) -> None:
        """Talk to ``host:port``; ``password`` is the ``super`` account's."""
        self.host = host
        self.port = port
        self.timeout = timeout
        self.password = password
        self._salt: str | None = None

    async def request(self, command: str, param: Any = None) -> dict[str, Any]:
        """Send one command and return the decoded reply (``code`` not checked)."""
        req: dict[str, Any] = {"cmd": command}
        if param is not None:
            req["param"] = param
        if command.startswith("set."):
            if self._salt is None:
                info = check_v3(await self.request("get.device.info", "salt"), command)
                salt = (
                    info.get("msg", {}).get("salt") if isinstance(info.get("msg"), dict) else None
                )
                if not isinstance(salt, str):
                    raise DeviceReplyInvalid("get.device.info salt: no salt in reply")
                self._salt = salt
            ts = int(time.time())
            req.update(ts=ts, account="super",
                       token=crypto.v3_token(command, self.password, self._salt, ts))  # fmt: skip
        body = _encode(req)
        try:
            async with asyncio.timeout(self.timeout):
                raw = await self._exchange(struct.pack("<I", len(body)) + body)
        except TimeoutError as exc:
            raise DeviceTimeout(f"{self.host}:{self.port} did not answer {command!r} "
                                f"within {self.timeout} s") from exc  # fmt: skip
        return decode_json(raw)

    async def _exchange(self, payload: bytes) -> bytes:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise DeviceOffline(f"{self.host}:{self.port}: {exc}") from exc
        try:
            writer.write(payload)
            await writer.drain()
            header = await reader.readexactly(4)
            (size,) = struct.unpack("<I", header)
            if size > MAX_FRAME:
                raise DeviceReplyInvalid(f"frame of {size} bytes announced")
            return await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise DeviceOffline(f"{self.host}:{self.port}: closed without a reply") from exc
            raise DeviceReplyInvalid(f"truncated frame ({len(exc.partial)} bytes)") from exc
        except OSError as exc:
            raise DeviceOffline(f"{self.host}:{self.port}: {exc}") from exc
        finally:
            writer.transport.abort()


def check_v3(reply: dict[str, Any], command: str) -> dict[str, Any]:
    """Raise ``DeviceCommandFailed`` for a non-zero API 3 ``code``."""
    code = reply.get("code")
    if code != 0:
        msg = str(reply.get("msg", "error"))
        raise DeviceCommandFailed(f"{command}: {msg} (code {code})", command=command,
                                  status_code=code if isinstance(code, int) else None,
                                  status_msg=msg)  # fmt: skip
    return reply
