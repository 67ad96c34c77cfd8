"""``kill -9`` of the leading server: the other takes over and keeps flushing rollups.

Two real ``hashfleet server`` subprocesses (A and B, own ports) on one PostgreSQL
database (a scratch database on the test PostgreSQL server) and one NATS JetStream bus
(the test NATS, a stream of this test alone). A starts first and leads. Snapshots an agent
posts to B are counted once in the ``stat-5m`` rollup (flushed by A). A is SIGKILLed: B
takes leadership (measured: the lock is free as soon as PostgreSQL sees A's session end,
B retries every 2 s) and flushes the next snapshots, again counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest

from hashfleet.core.clock import now_ms
from hashfleet.server.series.rollup import STEP_MS, bucket_of
from tests.support.databases import PG_SKIP_REASON, postgres_database
from tests.support.nats import NATS_SKIP_REASON, NATS_URL
from tests.support.processes import ServerProcess, provision_admin
from tests.support.rollups import stat_count

pytestmark = [
    pytest.mark.skipif(PG_SKIP_REASON is not None, reason=PG_SKIP_REASON or ""),
    pytest.mark.skipif(NATS_SKIP_REASON is not None, reason=NATS_SKIP_REASON or ""),
]

LEADER_LINE = "this server is now the leader"
OPTS = {"family": "antminer", "address": "127.0.0.9", "port": 4028}


def until(predicate: Any, timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def post_batch(url: str, token: str, first: int, n: int, ts: int) -> None:
    items = [
        {
            "seq": first + k,
            "thing_id": f"m{k % 3}",
            "ts": ts + k,
            "snap": {"stats": {"status": "online", "hashrate": 1e12, "coin": "BTC"}},
        }
        for k in range(n)
    ]
    resp = httpx.post(
        f"{url}/api/agent/ingest",
        json={"spool_id": "spool-k", "items": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["stored"] == n, resp.text


def test_kill_9_of_the_leader_hands_over(tmp_path: Path) -> None:
    u = uuid.uuid4().hex[:10]
    env = {
        "HASHFLEET_BUS": NATS_URL,
        "HASHFLEET_NATS_STREAM": f"HF_TWO_{u}",
        "HASHFLEET_NATS_SUBJECT": f"hftwo.{u}.ingest",
        "HASHFLEET_NATS_CONSUMER": f"hf-two-{u}",
        "HASHFLEET_STALE_S": "100000",
    }
    with postgres_database() as db_url:
        admin = asyncio.run(provision_admin(tmp_path / "a", db_url))
        a = ServerProcess(tmp_path / "a", db_url, name="a", env=env)
        b = ServerProcess(tmp_path / "b", db_url, name="b", env=env)
        h = {"Authorization": f"Bearer {admin}"}
        try:
            a.start()
            until(lambda: LEADER_LINE in a.output(), what="A to lead")
            b.start()
            until(lambda: "(follower)" in b.output(), what="B to follow")
            with httpx.Client(base_url=a.url, headers=h, timeout=10) as client:
                client.post("/rpc/registerRack", json={"id": "r1", "type": "miner"})
                for i in range(3):
                    body = {"rack": "r1", "id": f"m{i}", "opts": OPTS}
                    client.post("/rpc/registerThing", json=body).raise_for_status()
                token = client.post("/api/racks/r1/token").json()["token"]

            def b_knows_things() -> bool:
                got = httpx.post(f"{b.url}/rpc/listThings", json={}, headers=h, timeout=10)
                return len(got.json()) == 3

            until(b_knows_things, what="B to know A's things")
            # A closed bucket: flushed (merged) at the leader's next tick, every 5 s.
            old = bucket_of(now_ms()) - 2 * STEP_MS + 1000
            bucket = bucket_of(old)
            post_batch(b.url, token, 1, 30, old)
            until(lambda: stat_count(db_url, bucket) == 30, what="A's flush")

            killed = time.monotonic()
            a.kill()
            until(lambda: LEADER_LINE in b.output(), timeout=15, what="B to take over")
            took = time.monotonic() - killed
            print(f"failover after kill -9: {took:.2f} s")
            assert took < 10
            post_batch(b.url, token, 31, 12, old + 100)
            until(lambda: stat_count(db_url, bucket) == 42, what="B's flush")
            time.sleep(6)  # and only once
            assert stat_count(db_url, bucket) == 42
            assert re.search(r"Traceback", b.output()) is None, b.output()[-3000:]
        finally:
            b.terminate()
            a.kill()
            asyncio.run(delete_stream(env["HASHFLEET_NATS_STREAM"]))


async def delete_stream(name: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()
