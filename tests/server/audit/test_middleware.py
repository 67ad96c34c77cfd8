"""The audit middleware on bare ASGI apps: what is recorded, streaming, addresses, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from hashfleet.server.audit.entry import AuditEntry
from hashfleet.server.audit.middleware import AuditMiddleware
from hashfleet.server.auth.principal import Principal

App = Callable[[Scope, Receive, Send], Any]


def scope(
    method: str = "POST",
    path: str = "/rpc/registerRack",
    headers: dict[str, str] | None = None,
    client: tuple[str, int] | None = ("10.0.0.5", 5555),
) -> Scope:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": method, "path": path, "headers": raw, "client": client}


def answering(status: int, principal: Principal | None = None, read: bool = True) -> App:
    """An app that reads the body (or not), sets the caller like a dependency would, answers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if read:
            more = True
            while more:
                more = (await receive()).get("more_body", False)
        if principal is not None:
            scope["state"]["principal"] = principal
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def run(
    app: App, sc: Scope, body: bytes = b"", chunks: int = 1, **kwargs: Any
) -> tuple[list[AuditEntry], list[Message]]:
    entries: list[AuditEntry] = []
    sent: list[Message] = []
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await AuditMiddleware(app, entries.append, **kwargs)(sc, receive, send)
    return entries, sent


USER = Principal("user", "alice", "admin")
AGENT = Principal("agent", "rack-a", rack_id="rack-a")


async def test_a_write_is_recorded_with_its_caller_and_body() -> None:
    body = json.dumps({"id": "r1", "type": "miner", "info": {"token": "t0p"}}).encode()
    sc = scope(headers={"content-type": "application/json"})
    [entry], sent = await run(answering(200, USER), sc, body, chunks=3)
    assert sent[0]["status"] == 200
    assert (entry.actor, entry.actor_kind, entry.method, entry.path, entry.status) == (
        "alice", "user", "POST", "/rpc/registerRack", 200
    )  # fmt: skip
    assert entry.remote == "10.0.0.5" and entry.ts > 0
    assert entry.detail == {
        "rpc": "registerRack",
        "body": {"id": "r1", "type": "miner", "info": {"token": "***"}},
    }


async def test_agents_and_refused_callers() -> None:
    [entry], _ = await run(answering(403, AGENT), scope(path="/rpc/registerThing"))
    assert (entry.actor, entry.actor_kind, entry.status) == ("rack-a", "agent", 403)
    bearer = scope(headers={"authorization": "Bearer hfa_wrong"})
    [entry], _ = await run(answering(401), bearer)
    assert (entry.actor, entry.actor_kind, entry.status) == (None, "anonymous", 401)
    assert entry.detail == {"rpc": "registerRack", "credentials": "bearer"}
    cookie = scope(headers={"cookie": "a=1; hashfleet_session=stale"})
    [entry], _ = await run(answering(401), cookie)
    assert entry.detail is not None and entry.detail["credentials"] == "session"
    assert "stale" not in json.dumps(entry.to_dict())


async def test_login_records_the_attempted_name_never_the_password() -> None:
    form = b"username=alice&password=hunter2"
    sc = scope(path="/login", headers={"content-type": "application/x-www-form-urlencoded"})
    [failed], _ = await run(answering(401), sc, form)
    assert (failed.actor, failed.actor_kind, failed.status) == ("alice", "anonymous", 401)
    [ok], _ = await run(answering(303), sc, form)
    assert (ok.actor, ok.actor_kind) == ("alice", "user")
    assert "hunter2" not in json.dumps([failed.to_dict(), ok.to_dict()])


@pytest.mark.parametrize(
    ("method", "path", "status", "recorded"),
    [
        ("GET", "/api/alerts", 200, False),
        ("HEAD", "/", 200, False),
        ("OPTIONS", "/rpc/ping", 200, False),
        ("PUT", "/api/x", 200, True),
        ("PATCH", "/api/x", 200, True),
        ("DELETE", "/api/x", 204, True),
        ("POST", "/api/agent/ingest", 200, False),
        ("POST", "/api/agent/ingest", 400, False),
        ("POST", "/api/agent/ingest", 401, True),
        ("POST", "/api/agent/ingest", 403, True),
        ("POST", "/rpc/listThings", 200, False),
        ("POST", "/rpc/tailLog", 200, False),
        ("POST", "/rpc/listThings", 401, True),
        ("POST", "/rpc/forgetThings", 200, True),
        ("POST", "/rpc/someNewMethod", 200, True),
    ],
)
async def test_what_is_recorded(method: str, path: str, status: int, recorded: bool) -> None:
    entries, _ = await run(answering(status), scope(method, path))
    assert len(entries) == int(recorded)


async def test_websockets_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    entries, _ = await run(app, {"type": "websocket", "path": "/ws", "headers": []})
    assert seen == ["websocket"] and entries == []


async def test_large_unread_and_non_json_bodies_are_not_kept() -> None:
    big = json.dumps({"x": "y" * 9000}).encode()
    [entry], _ = await run(answering(200), scope(path="/api/x"), big, chunks=4)
    assert entry.detail == {"body_bytes": len(big)}
    [entry], _ = await run(answering(200, read=False), scope(path="/api/x"), b'{"a": 1}')
    assert entry.detail == {"body_bytes": 8} or entry.detail is None
    text = scope(path="/api/x", headers={"content-type": "text/plain"})
    [entry], _ = await run(answering(200), text, b"password=1")
    assert entry.detail is None
    [entry], _ = await run(answering(200), scope(path="/api/x"), b"{broken")
    assert entry.detail is None


async def test_forwarded_for_only_when_trusted() -> None:
    sc = scope(headers={"x-forwarded-for": "1.2.3.4, 192.0.2.7"})
    [entry], _ = await run(answering(200), sc)
    assert entry.remote == "10.0.0.5"
    [entry], _ = await run(answering(200), sc, trust_proxy=True)
    assert entry.remote == "192.0.2.7"  # the address our proxy saw, not what the client wrote
    [entry], _ = await run(answering(200), scope(client=None), trust_proxy=True)
    assert entry.remote is None


async def test_an_exception_is_recorded_as_500_and_still_raised() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    entries: list[AuditEntry] = []
    middleware = AuditMiddleware(broken, entries.append)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    with pytest.raises(RuntimeError):
        await middleware(scope(), receive, send)
    assert [e.status for e in entries] == [500]


async def test_a_failing_sink_never_fails_the_request() -> None:
    def sink(entry: AuditEntry) -> None:
        raise ValueError("full")

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await AuditMiddleware(answering(200), sink)(scope(), receive, send)
    assert sent[0]["status"] == 200


async def test_streamed_answers_pass_chunk_by_chunk() -> None:
    release = asyncio.Event()
    first_sent = asyncio.Event()

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"n":1}\n', "more_body": True})
        await release.wait()  # the rest of the stream depends on the client having seen this
        await send({"type": "http.response.body", "body": b'{"n":2}\n'})

    entries: list[AuditEntry] = []
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b'{"n":1}\n':
            first_sent.set()

    task = asyncio.create_task(AuditMiddleware(streaming, entries.append)(scope(), receive, send))
    await asyncio.wait_for(first_sent.wait(), 2)
    assert entries == []  # recorded once the answer is complete
    release.set()
    await asyncio.wait_for(task, 2)
    assert [m.get("body") for m in sent[1:]] == [b'{"n":1}\n', b'{"n":2}\n']
    assert [e.status for e in entries] == [200]
