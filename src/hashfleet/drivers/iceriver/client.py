"""The IceRiver web panel's transport: :class:`HttpJsonClient` plus the session login.

The panel answers JSON only inside a session: ``POST /user/loginpost?post=6&user=…&pwd=…``
sets a session cookie, and a request without a live session gets the login page (HTML,
after a redirect) or an HTTP 401/403. :meth:`IceRiverClient.call` logs in on first use and
again, once, whenever the session has gone (expired, or the miner rebooted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.common.http import HttpJsonClient

WEB_PORT = 80
DEFAULT_LOGIN = ("admin", "12345678")  # the factory web login
_SESSION_GONE = frozenset({401, 403})
_decoder = msgspec.json.Decoder()


class IceRiverClient(HttpJsonClient):
    """One IceRiver's panel at ``http://host:port``; keeps its session cookie."""

    def __init__(
        self, host: str, port: int, timeout: float, user: str | None, password: str | None
    ) -> None:
        """Log in as ``user``/``password`` (admin/12345678 when not given)."""
        super().__init__(f"http://{host}:{port}", timeout, cookies=True)
        self.user = user or DEFAULT_LOGIN[0]
        self.password = password or DEFAULT_LOGIN[1]
        self.logged_in = False
        self.logins = 0

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self.logged_in = False  # a new session has no session cookie
        return super()._get_session()

    async def login(self) -> None:
        """Open a session; ``DeviceCommandFailed`` when the miner refuses the login."""
        params = {"post": "6", "user": self.user, "pwd": self.password}
        raw = await self.request("POST", "/user/loginpost", params=params, raw=True)
        doc = json_object(raw, "/user/loginpost")
        if doc.get("code") != 0:
            msg = str(doc.get("msg") or "login refused")
            raise DeviceCommandFailed(f"login as {self.user!r}: {msg}", command="loginpost")
        self.logged_in = True
        self.logins += 1

    async def call(
        self, path: str, params: Mapping[str, str], form: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """``POST path`` inside a session; its JSON object (``code`` not checked here)."""
        for attempt in range(2):
            if not self.logged_in:
                await self.login()
            try:
                raw = await self.request("POST", path, params=params, form=form, raw=True)
            except DeviceCommandFailed as exc:
                if exc.details.get("http_status") not in _SESSION_GONE or attempt:
                    raise
                self.logged_in = False
                continue
            if _is_login_page(raw):
                if attempt:
                    raise DeviceCommandFailed(f"{path}: session refused right after login",
                                              command=path)  # fmt: skip
                self.logged_in = False
                continue
            return json_object(raw, path)
        raise DeviceCommandFailed(f"{path}: no session", command=path)  # not reached


def _is_login_page(raw: bytes) -> bool:
    head = raw[:512].lstrip().lower()
    return head.startswith(b"<") and (b"<html" in head or b"<!doctype" in head)


def json_object(raw: bytes, path: str) -> dict[str, Any]:
    """A reply body → its JSON object; anything else raises ``DeviceReplyInvalid``."""
    try:
        doc = _decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec raises the latter
        raise DeviceReplyInvalid(f"{path}: body is not JSON: {exc}") from exc  # on bad UTF-8
    if not isinstance(doc, dict):
        raise DeviceReplyInvalid(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc
