"""The audit middleware: every HTTP write is recorded once its answer has been sent.

A pure ASGI middleware, so streamed answers (the NDJSON scan) pass through untouched: it
only looks at the request's headers, the body chunks the application reads anyway (never
reading ahead of it) and the status line of the answer. It never waits for the store:
entries go to a sink (``AuditWriter.record``) that queues them in memory.

Recorded: POST, PUT, PATCH and DELETE, refused ones (401, 403, 4xx) included — failed
attempts matter. Not recorded:
- ``/api/agent/ingest`` when it succeeds or fails on its data: snapshots are data, not
  actions, and arrive thousands of times a second. Its 401/403 (a bad rack token) are.
- successful calls of the read-only RPC methods (``listThings``, ``tailLog``…, the list in
  ``hashfleet.server.reads``, shared with the replica guard): the dashboard posts them
  every few seconds and they change nothing. Refusals are recorded.
- GET, HEAD, OPTIONS and WebSockets: they read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hashfleet.core.clock import now_ms
from hashfleet.server.audit.entry import AuditEntry
from hashfleet.server.audit.redact import MAX_BODY, form_username, json_body
from hashfleet.server.auth.principal import SESSION_COOKIE
from hashfleet.server.reads import READ_ONLY_RPCS, rpc_name

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
INGEST_PATH = "/api/agent/ingest"
LOGIN_PATH = "/login"
_AUTH_REFUSED = frozenset({401, 403})

Sink = Callable[[AuditEntry], None]


class _Tap:
    """The request body as the application reads it, kept only while it is small."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False

    def feed(self, message: Message) -> None:
        chunk = message.get("body", b"")
        self.size += len(chunk)
        if self.size < MAX_BODY:
            self.chunks.append(chunk)
        else:
            self.chunks = []  # too large to record: hold nothing of it
        if not message.get("more_body", False):
            self.complete = True

    def body(self) -> bytes | None:
        """The whole body, if it was read to the end and is small enough."""
        if not self.complete or self.size >= MAX_BODY:
            return None
        return b"".join(self.chunks)


class AuditMiddleware:
    """Records each HTTP write (who, what, when, from where, how it ended) into ``sink``."""

    def __init__(
        self,
        app: ASGIApp,
        sink: Sink,
        *,
        trust_proxy: bool = False,
        read_only_rpcs: Iterable[str] = READ_ONLY_RPCS,
    ) -> None:
        """``trust_proxy``: take the client address from ``X-Forwarded-For`` (set it only
        behind a reverse proxy that writes that header, or anyone can pick their address)."""
        self.app = app
        self.sink = sink
        self.trust_proxy = trust_proxy
        self.read_only_rpcs = frozenset(read_only_rpcs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        ts = now_ms()
        # The dependencies cache the caller in request.state, i.e. in this dict: it must exist
        # before the application runs so that it is the one they write into.
        scope.setdefault("state", {})
        tap = _Tap()
        status = 0

        async def tapped_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                tap.feed(message)
            return message

        async def tapped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, tapped_receive, tapped_send)
        finally:
            # An exception that escapes the application becomes a 500 further out.
            self._record(scope, ts, status or 500, tap)

    def _record(self, scope: Scope, ts: int, status: int, tap: _Tap) -> None:
        try:
            entry = self.entry(scope, ts, status, tap.body(), tap.size)
            if entry is not None:
                self.sink(entry)
        except Exception:
            # Auditing must never turn an answered request into an error.
            log.exception("audit: could not record %s %s", scope.get("method"), scope.get("path"))

    def entry(
        self, scope: Scope, ts: int, status: int, body: bytes | None, size: int
    ) -> AuditEntry | None:
        """The entry for one finished write, or ``None`` when it is not recorded."""
        path: str = scope.get("path", "")
        if path == INGEST_PATH and status not in _AUTH_REFUSED:
            return None
        rpc = rpc_name(path)
        if rpc in self.read_only_rpcs and status < 400:
            return None
        headers = _headers(scope)
        detail: dict[str, Any] = {}
        if rpc is not None:
            detail["rpc"] = rpc
        principal = scope.get("state", {}).get("principal")
        actor: str | None = None
        kind = "anonymous"
        if principal is not None:
            actor, kind = principal.name, principal.kind
        elif path == LOGIN_PATH:
            # Who tried to log in; a successful login is that user's act.
            actor = form_username(body) if body is not None else None
            kind = "user" if status < 400 and actor else "anonymous"
        else:
            offered = _credentials(headers)
            if offered:
                detail["credentials"] = offered  # presented, but not accepted (or not checked)
        if path != LOGIN_PATH:
            self._body_detail(headers, body, size, detail)
        return AuditEntry(
            ts=ts,
            method=scope["method"],
            path=path,
            status=status,
            actor=actor,
            actor_kind=kind,
            remote=self._remote(scope, headers),
            detail=detail or None,
        )

    @staticmethod
    def _body_detail(
        headers: dict[str, str], body: bytes | None, size: int, detail: dict[str, Any]
    ) -> None:
        if size == 0 or "json" not in headers.get("content-type", "json"):
            return
        if body is None:
            detail["body_bytes"] = size  # too large, or not read by the application
            return
        is_json, value = json_body(body)
        if is_json:
            detail["body"] = value

    def _remote(self, scope: Scope, headers: dict[str, str]) -> str | None:
        if self.trust_proxy:
            # The last address is the one our proxy appended: the peer it saw. Earlier ones
            # were sent by the client and prove nothing.
            forwarded = [a.strip() for a in headers.get("x-forwarded-for", "").split(",")]
            forwarded = [a for a in forwarded if a]
            if forwarded:
                return forwarded[-1]
        client = scope.get("client")
        return str(client[0]) if client else None


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (repeated ones joined with commas)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def _credentials(headers: dict[str, str]) -> str | None:
    """Which kind of credentials the request carried (never their value)."""
    if headers.get("authorization", "").lower().startswith("bearer "):
        return "bearer"
    if f"{SESSION_COOKIE}=" in headers.get("cookie", ""):
        return "session"
    return None
