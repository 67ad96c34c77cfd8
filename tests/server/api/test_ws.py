"""WebSocket /ws: authentication, full state first, then diffs; errors are data."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import httpx

from hashfleet.core.clock import now_ms
from tests.server.api.test_rpc import setup_rack
from tests.support.live_server import ADMIN_PASSWORD, LiveServer


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


def ingest(server: LiveServer, token: str, seq: int, thing_id: str, hashrate: float) -> None:
    body = {
        "spool_id": "ws-test",
        "items": [
            {
                "seq": seq,
                "thing_id": thing_id,
                "ts": now_ms(),
                "snap": {"stats": {"status": "online", "hashrate": hashrate, "coin": "BTC"}},
            }
        ],
    }
    resp = httpx.post(
        f"{server.url}/api/agent/ingest", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text


async def test_subscribe_snapshot_then_diff(live_server: LiveServer) -> None:
    await asyncio.to_thread(setup_rack, live_server, 2)
    resp = await asyncio.to_thread(
        httpx.post, f"{live_server.url}/api/racks/rack-a/token", headers=live_server.headers
    )
    token = resp.json()["token"]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{live_server.url}/ws?token={live_server.admin_token}") as ws,
    ):
        await ws.send_json({"id": 1, "type": "subscribe", "channel": "aggregates"})
        first = await recv(ws)
        assert first == {
            "type": "snapshot",
            "channel": "aggregates",
            "id": 1,
            "data": first["data"],
        }
        assert first["data"]["alive"] == "0/2"
        await ws.send_json({"id": 2, "type": "subscribe", "channel": "thing:m1"})
        snap = await recv(ws)
        assert snap["channel"] == "thing:m1" and snap["data"]["id"] == "m1"
        await asyncio.to_thread(ingest, live_server, token, 1, "m0", 5e12)
        # m0 changed: the aggregates channel hears of it, thing:m1 does not.
        diff = await recv(ws)
        assert diff["type"] == "diff" and diff["channel"] == "aggregates"
        assert diff["data"]["alive"] == "1/2"
        await asyncio.to_thread(ingest, live_server, token, 2, "m1", 7e12)
        got = {}
        for _ in range(2):
            m = await recv(ws)
            got[m["channel"]] = m
        assert got["thing:m1"]["data"]["last"]["snap"]["stats"]["hashrate"] == 7e12
        assert got["aggregates"]["data"]["hashrate_by_coin"] == {"BTC": 12_000_000_000_000}
        await ws.send_json({"id": 3, "type": "subscribe", "channel": "nope"})
        err = await recv(ws)
        assert err["type"] == "error" and err["error"] == "ERR_CHANNEL_INVALID"
        await ws.send_str("not json")
        assert (await recv(ws))["error"] == "ERR_PAYLOAD_INVALID"


async def test_websocket_refuses_anonymous(live_server: LiveServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{live_server.url}/ws") as ws,
    ):
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4401


async def test_session_cookie_counts_only_from_the_same_origin(live_server: LiveServer) -> None:
    resp = await asyncio.to_thread(
        httpx.post,
        f"{live_server.url}/login",
        data={"username": "admin", "password": ADMIN_PASSWORD},
    )
    cookie = resp.cookies["hashfleet_session"]
    host = live_server.url.split("://", 1)[1]
    async with aiohttp.ClientSession() as session:
        for origin, allowed in ((f"http://{host}", True), ("http://evil.example", False)):
            async with session.ws_connect(
                f"{live_server.url}/ws",
                headers={"Origin": origin, "Cookie": f"hashfleet_session={cookie}"},
            ) as ws:
                await ws.send_json({"id": 1, "type": "subscribe", "channel": "aggregates"})
                msg = await asyncio.wait_for(ws.receive(), 5)
                if allowed:
                    assert json.loads(msg.data)["type"] == "snapshot"
                else:
                    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                    assert ws.close_code == 4401
