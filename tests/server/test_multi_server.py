"""Two servers behind one address: one PostgreSQL database, one NATS JetStream bus.

Servers A and B run in this process (uvicorn each, own event loop, own port) with
exactly the production wiring. What is proven:

* leadership: A (started first) leads, B follows; once A stops, B takes over within
  a few seconds;
* registry: a rack and things registered on A appear in B's ``listThings`` and on B's
  ``fleet`` WebSocket channel;
* ingest: a batch an agent posts to B reaches both live indexes;
* alerts: evaluated once (by the leader): one alert row, one open alert on A's and on
  B's ``GET /api/alerts``;
* rollups: every snapshot counted once in the ``stat-5m`` bucket, also for late
  snapshots (two flushers would merge them twice), and the new leader keeps flushing;
* jobs: an action pushed on A reaches an agent long-polling B at once, and the result it
  reports to B completes the action.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from sqlalchemy import func, select

from hashfleet.core.clock import now_ms
from hashfleet.server.series.rollup import STEP_MS, bucket_of
from hashfleet.server.store.engine import create_engine
from hashfleet.server.store.tables import alerts
from tests.support.databases import PG_SKIP_REASON, postgres_database
from tests.support.live_server import LiveServer
from tests.support.nats import NATS_SKIP_REASON, NATS_URL, private_stream
from tests.support.rollups import stat_count

pytestmark = [
    pytest.mark.skipif(PG_SKIP_REASON is not None, reason=PG_SKIP_REASON or ""),
    pytest.mark.skipif(NATS_SKIP_REASON is not None, reason=NATS_SKIP_REASON or ""),
]

OPTS = {"family": "antminer", "address": "127.0.0.9", "port": 4028}


@pytest.fixture
def nats_names() -> Iterator[dict[str, str]]:
    """A stream, subject and consumer of this test alone; the stream is deleted after it."""
    with private_stream("multi") as found:
        yield found


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def server(tmp_path: Path, name: str, pg_url: str, names: dict[str, str]) -> LiveServer:
    extra: dict[str, Any] = dict(names)
    return LiveServer(tmp_path / name, pg_url, bus=NATS_URL, stale_s=1e9, **extra)


def rpc(s: LiveServer, method: str, body: dict[str, Any]) -> Any:
    resp = httpx.post(f"{s.url}/rpc/{method}", json=body, headers=s.headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def until(predicate: Callable[[], Any], timeout: float = 15, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.05)


def ingest(s: LiveServer, token: str, spool: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    resp = httpx.post(
        f"{s.url}/api/agent/ingest",
        json={"spool_id": spool, "items": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def items(first_seq: int, ts: int, n: int, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    out = []
    for k in range(n):
        thing = f"m{k % 3}"
        stats_ = {"status": "online", "hashrate": 1e12, "coin": "BTC"}
        if thing in errors:
            stats_["errors"] = errors[thing]
        out.append(
            {"seq": first_seq + k, "thing_id": thing, "ts": ts + k, "snap": {"stats": stats_}}
        )
    return out


def alert_rows(url: str) -> int:
    """Alert rows in the store, open or closed."""
    return int(asyncio.run(_alert_rows(url)))


async def _alert_rows(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(alerts))).scalar() or 0)
    finally:
        await engine.dispose()


def open_alerts(s: LiveServer) -> list[dict[str, Any]]:
    resp = httpx.get(f"{s.url}/api/alerts", headers=s.headers, timeout=10)
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["alerts"]
    return found


def test_two_servers_share_one_live_fleet(
    tmp_path: Path, pg_url: str, nats_names: dict[str, str]
) -> None:
    a = server(tmp_path, "a", pg_url, nats_names).start()
    b = server(tmp_path, "b", pg_url, nats_names).start()
    fleet_seen: set[str] = set()
    alerts_seen: set[str] = set()
    ws_ready = threading.Event()
    ws_stop = threading.Event()

    def watch_fleet() -> None:
        async def run() -> None:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(f"{b.url}/ws?token={b.admin_token}") as ws,
            ):
                await ws.send_json({"id": 1, "type": "subscribe", "channel": "fleet"})
                await ws.send_json({"id": 2, "type": "subscribe", "channel": "alerts"})
                ws_ready.set()
                while not ws_stop.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return  # the server is stopping
                    got = json.loads(msg.data)
                    data = got.get("data") or {}
                    if got.get("channel") == "alerts":
                        for alert in data.get("upsert", []) + data.get("alerts", []):
                            alerts_seen.add(str(alert.get("id")))
                        continue
                    for row in data.get("upsert", []) + data.get("rows", []):
                        fleet_seen.add(str(row.get("id")))

        asyncio.run(run())

    watcher = threading.Thread(target=watch_fleet, daemon=True)
    try:
        assert a.state is not None and b.state is not None
        assert a.state.shared and b.state.shared
        assert a.state.leader.is_leader and not b.state.leader.is_leader

        # -- registry on A → B (listThings and the fleet channel) --------------------------
        watcher.start()
        assert ws_ready.wait(10)
        rpc(a, "registerRack", {"id": "r1", "type": "miner"})
        for i in range(3):
            rpc(a, "registerThing", {"rack": "r1", "id": f"m{i}", "opts": OPTS})
        until(lambda: len(rpc(b, "listThings", {})) == 3, what="B to list A's things")
        until(lambda: {"m0", "m1", "m2"} <= fleet_seen, what="B's fleet channel")
        rpc(a, "updateThing", {"id": "m2", "info": {"pos": "A-1"}})
        until(
            lambda: rpc(b, "listThings", {"query": {"id": "m2"}})[0]["info"] == {"pos": "A-1"},
            what="B to see A's update",
        )
        token = httpx.post(f"{a.url}/api/racks/r1/token", headers=a.headers).json()["token"]
        rpc(b, "setGlobalConfig", {"siteCapacityW": 1234})
        until(
            lambda: rpc(a, "getGlobalConfig", {})["siteCapacityW"] == 1234,
            what="A to see B's global config",
        )
        rpc(a, "setGlobalConfig", {"isAutoSleepAllowed": True})
        until(lambda: rpc(b, "getGlobalConfig", {})["isAutoSleepAllowed"], what="B to see A's")
        assert rpc(b, "getGlobalConfig", {})["siteCapacityW"] == 1234  # A's patch kept it

        # -- ingest through B: both live indexes; alerts once; rollups once ---------------
        # Ten minutes old: a bucket already closed, so the leader merges it as a late one.
        old = bucket_of(now_ms()) - 2 * STEP_MS + 1000
        ack = ingest(b, token, "spool-1", items(1, old, 30, {"m1": ["E7"]}))
        assert ack == {"acked_seq": 30, "stored": 30, "duplicates": 0}
        fresh = {"query": {"last.ts": {"$gte": old}}}
        until(lambda: len(rpc(a, "listThings", fresh)) == 3, what="snapshots on A")
        until(lambda: len(rpc(b, "listThings", fresh)) == 3, what="snapshots on B")
        until(lambda: len(open_alerts(a)) == 1, what="the alert on the leader")
        until(lambda: len(open_alerts(b)) == 1, what="the alert on the follower")
        # The same alert (same id) on both: the leader's, not one per server.
        assert open_alerts(a) == open_alerts(b)
        assert open_alerts(a)[0]["thing_id"] == "m1"
        alert_id = open_alerts(a)[0]["id"]
        until(lambda: alert_id in alerts_seen, what="the alert on B's alerts channel")
        assert alert_rows(pg_url) == 1

        bucket = bucket_of(old)
        until(lambda: stat_count(pg_url, bucket) == 30, what="the late bucket flushed")
        time.sleep(6)  # a second flusher (one per server before) would merge it again
        assert stat_count(pg_url, bucket) == 30
        assert alert_rows(pg_url) == 1

        # -- a job pushed on A reaches an agent long-polling B ----------------------------
        agent_h = {"Authorization": f"Bearer {token}"}
        polled: dict[str, Any] = {}

        def long_poll() -> None:
            resp = httpx.get(f"{b.url}/api/agent/jobs?wait=20", headers=agent_h, timeout=30)
            polled["at"] = time.monotonic()
            polled["jobs"] = resp.json()["jobs"]

        poller = threading.Thread(target=long_poll)
        poller.start()
        time.sleep(0.5)  # B's long poll is waiting
        pushed_at = time.monotonic()
        action = rpc(a, "pushAction", {"query": {"id": "m0"}, "action": "reboot", "params": []})
        poller.join(25)
        assert [j["thing_id"] for j in polled["jobs"]] == ["m0"]
        assert polled["at"] - pushed_at < 5, "B's agent was not woken"
        job = polled["jobs"][0]
        resp = httpx.post(
            f"{b.url}/api/agent/jobs/results",
            json={"results": [{"id": job["id"], "ok": True}]},
            headers=agent_h,
        )
        assert resp.json() == {"acked": [job["id"]]}
        until(
            lambda: rpc(a, "getAction", {"id": action["id"]})["state"] == "done",
            what="the action done on A",
        )
        until(
            lambda: rpc(b, "getAction", {"id": action["id"]})["state"] == "done",
            what="the action done on B",
        )

        # queryThing on A (waits for the device's answer); the agent polls and answers B.
        answer: dict[str, Any] = {}

        def query_thing() -> None:
            answer["resp"] = httpx.post(
                f"{a.url}/rpc/queryThing",
                json={"id": "m1", "method": "reboot", "timeout": 20},
                headers=a.headers,
                timeout=30,
            )

        caller = threading.Thread(target=query_thing)
        started = time.monotonic()
        caller.start()
        jobs: list[dict[str, Any]] = []

        def poll_b() -> bool:
            got = httpx.get(f"{b.url}/api/agent/jobs?wait=5", headers=agent_h, timeout=15)
            jobs.extend(got.json()["jobs"])
            return bool(jobs)

        until(poll_b, what="the direct call's job on B")
        assert [j["thing_id"] for j in jobs] == ["m1"]
        httpx.post(
            f"{b.url}/api/agent/jobs/results",
            json={"results": [{"id": jobs[0]["id"], "ok": True, "result": "rebooted"}]},
            headers=agent_h,
        ).raise_for_status()
        caller.join(25)
        assert answer["resp"].status_code == 200, answer["resp"].text
        assert answer["resp"].json() == "rebooted"
        assert time.monotonic() - started < 5, "A's caller was not told of B's result"

        # Steady state: the periodic re-reads (for missed notices) find nothing to repair.
        for s in (a, b):
            assert s.state is not None
            assert s.call(s.state.registry.resync()) == 0
            assert s.call(s.state.actions.refresh_open()) == 0
            assert s.call(s.state.alerts.reload()) == 0

        # -- A stops: B takes over and keeps flushing -------------------------------------
        stopped = time.monotonic()
        a.stop()
        until(lambda: b.state is not None and b.state.leader.is_leader, what="B to lead")
        took = time.monotonic() - stopped
        assert took < 10, f"takeover took {took:.1f} s"
        ack = ingest(b, token, "spool-1", items(31, old + 100, 9, {}))
        assert ack["stored"] == 9
        until(lambda: stat_count(pg_url, bucket) == 39, what="B's flush")
        # m1's new snapshots report no error: the new leader closes the alert.
        until(lambda: open_alerts(b) == [], what="the new leader to close the alert")
        assert alert_rows(pg_url) == 1
    finally:
        ws_stop.set()
        b.stop()
        a.stop()
