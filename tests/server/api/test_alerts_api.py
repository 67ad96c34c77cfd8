"""Alerts end to end: ingest opens, keeps and closes them; ``/api/alerts`` and ``/ws``."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx

from hashfleet.core.clock import now_ms
from tests.server.api.test_rpc import setup_rack
from tests.server.api.test_ws import recv
from tests.support.live_server import LiveServer


def snap(chip: float = 70, errors: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "stats": {
            "status": "online",
            "hashrate": 100e12,
            "hashrate_nominal": 100e12,
            "hashboards": [{"index": 0, "temp_chip": chip, "temp_board": 60, "ok": True}],
            "errors": list(errors),
        }
    }


class Agent:
    """Posts snapshots as a rack's agent would."""

    def __init__(self, server: LiveServer) -> None:
        setup_rack(server, 2)
        resp = httpx.post(f"{server.url}/api/racks/rack-a/token", headers=server.headers)
        self.headers = {"Authorization": f"Bearer {resp.json()['token']}"}
        self.url = server.url
        self.seq = 0

    def send(self, thing_id: str, ts: int, snapshot: dict[str, Any]) -> None:
        self.seq += 1
        item = {"seq": self.seq, "thing_id": thing_id, "ts": ts, "snap": snapshot}
        resp = httpx.post(
            f"{self.url}/api/agent/ingest",
            json={"spool_id": "alerts-test", "items": [item]},
            headers=self.headers,
        )
        assert resp.status_code == 200, resp.text


def get(server: LiveServer, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}/api/alerts", params=params, headers=server.headers)


def alerts(server: LiveServer, **params: Any) -> list[dict[str, Any]]:
    resp = get(server, **params)
    assert resp.status_code == 200, resp.text
    out: list[dict[str, Any]] = resp.json()["alerts"]
    return out


def test_alert_lifecycle_and_filters(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    t0 = now_ms() - 60_000
    agent.send("m0", t0, snap(chip=90))
    [hot] = alerts(live_server)
    assert (hot["thing_id"], hot["code"], hot["severity"]) == ("m0", "temp_chip", "high")
    assert hot["created_at"] == t0 and hot["closed_at"] is None

    agent.send("m0", t0 + 1000, snap(chip=97))
    [hotter] = alerts(live_server)
    assert (hotter["id"], hotter["created_at"], hotter["severity"]) == (hot["id"], t0, "critical")

    agent.send("m1", t0 + 2000, snap(errors=("ERR_POOL_DOWN",)))
    body = get(live_server).json()
    assert body["total"] == 2
    assert [a["code"] for a in body["alerts"]] == ["temp_chip", "device:ERR_POOL_DOWN"]
    assert [a["thing_id"] for a in alerts(live_server, severity="critical")] == ["m0"]
    assert [a["thing_id"] for a in alerts(live_server, thing="m1")] == ["m1"]
    assert len(alerts(live_server, type="miner")) == 2
    assert alerts(live_server, type="container") == []
    assert [a["thing_id"] for a in alerts(live_server, since=t0 + 1)] == ["m1"]
    assert [a["thing_id"] for a in alerts(live_server, until=t0)] == ["m0"]
    page = get(live_server, limit=1, offset=1).json()
    assert page["total"] == 2 and [a["thing_id"] for a in page["alerts"]] == ["m1"]

    agent.send("m0", t0 + 3000, snap(chip=70))
    assert [a["thing_id"] for a in alerts(live_server)] == ["m1"]
    [past] = alerts(live_server, state="closed")
    assert (past["id"], past["created_at"], past["closed_at"]) == (hot["id"], t0, t0 + 3000)
    assert past["severity"] == "critical"
    every = get(live_server, state="all").json()
    assert every["total"] == 2
    assert [a["thing_id"] for a in every["alerts"]] == ["m1", "m0"]  # newest first
    assert alerts(live_server, state="all", severity="medium,low")[0]["thing_id"] == "m1"
    assert alerts(live_server, state="closed", thing="m1") == []


def test_bad_queries_and_callers(live_server: LiveServer) -> None:
    assert get(live_server, limit=1001).status_code == 400
    assert get(live_server, state="maybe").status_code == 400
    resp = get(live_server, severity="urgent")
    assert resp.status_code == 400 and resp.json()["error"] == "ERR_QUERY_INVALID"
    anonymous = httpx.get(f"{live_server.url}/api/alerts")
    assert anonymous.status_code == 401


async def test_alerts_channel_delivers_opened_and_closed(live_server: LiveServer) -> None:
    agent = await asyncio.to_thread(Agent, live_server)
    t0 = now_ms() - 60_000
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{live_server.url}/ws?token={live_server.admin_token}") as ws,
    ):
        await ws.send_json({"id": 1, "type": "subscribe", "channel": "alerts"})
        first = await recv(ws)
        assert first == {"type": "snapshot", "channel": "alerts", "id": 1, "data": {"alerts": []}}
        await asyncio.to_thread(agent.send, "m1", t0, snap(chip=99))
        opened = await recv(ws)
        assert opened["type"] == "diff" and opened["data"]["remove"] == []
        [alert] = opened["data"]["upsert"]
        assert (alert["thing_id"], alert["severity"]) == ("m1", "critical")
        await asyncio.to_thread(agent.send, "m1", t0 + 1000, snap(chip=70))
        closed = await recv(ws)
        assert closed["data"] == {"upsert": [], "remove": [alert["id"]]}
