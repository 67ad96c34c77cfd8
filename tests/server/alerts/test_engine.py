"""The alert engine on a real SQLite store: open, keep, close into history, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.model.alert import Alert
from hashfleet.server.alerts.engine import ALERTS_CHANNEL, AlertEngine
from hashfleet.server.leader import NotLeader, no_fence
from hashfleet.server.live.channels import Subscriber
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.store.alerts import alert_history, open_alerts
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.wire.codec import json_loads
from tests.support.databases import sqlite_url

T0 = 1_700_000_000_000


def miner(thing_id: str) -> dict[str, Any]:
    return {"id": thing_id, "type": "miner", "tags": ["t-miner"], "opts": {}, "info": {}}


def row(thing_id: str, ts: int, chip: float = 70, err: str | None = None) -> dict[str, Any]:
    snap = None
    if err is None:
        snap = {
            "stats": {
                "status": "online",
                "hashrate": 100e12,
                "hashrate_nominal": 100e12,
                "hashboards": [{"index": 0, "temp_chip": chip, "temp_board": 60, "ok": True}],
            },
            "config": {},
        }
    return {"thing_id": thing_id, "rack_id": "r1", "ts": ts, "err": err, "doc": snap}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url(tmp_path))
    await migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


def make(db: AsyncEngine, events: list[tuple[str, Alert]] | None = None) -> AlertEngine:
    live = LiveIndex(stale_ms=60_000)
    for thing_id in ("m1", "m2"):
        live.put_thing(miner(thing_id))
    notify = (lambda e, a: events.append((e, a))) if events is not None else None
    return AlertEngine(db, live, {"missing_after": 2}, notify)


def feed(alerts: AlertEngine, *rows: dict[str, Any]) -> None:
    """What the writer does: apply to the live index, then observe."""
    alerts.live.apply(rows)
    alerts.observe(list(rows))


async def test_an_alert_opens_persists_and_closes_into_history(db: AsyncEngine) -> None:
    events: list[tuple[str, Alert]] = []
    alerts = make(db, events)
    feed(alerts, row("m1", T0, chip=88))
    [opened] = alerts.active()
    assert (opened.thing_id, opened.code, opened.severity) == ("m1", "temp_chip", "high")
    assert events == [("opened", opened)]
    assert await alerts.flush() == 1
    assert [a.id for a in await open_alerts(db)] == [opened.id]

    # Hotter: same alert, escalated; the notifier hears only of opening and closing.
    feed(alerts, row("m1", T0 + 5000, chip=99))
    [hot] = alerts.active("m1")
    assert (hot.id, hot.created_at, hot.severity) == (opened.id, T0, "critical")
    assert hot.updated_at == T0 + 5000
    feed(alerts, row("m1", T0 + 10_000, chip=99))  # unchanged: nothing to write
    assert alerts.active("m1")[0].updated_at == T0 + 5000
    await alerts.flush()
    [stored] = await open_alerts(db)
    assert stored.severity == "critical" and stored.created_at == T0

    feed(alerts, row("m1", T0 + 15_000, chip=70))
    assert alerts.active() == []
    assert [e for e, _ in events] == ["opened", "closed"]
    await alerts.flush()
    assert await open_alerts(db) == []
    [past] = await alert_history(db)
    assert (past.id, past.created_at, past.closed_at) == (opened.id, T0, T0 + 15_000)


async def test_open_and_closed_before_a_flush_is_stored_closed(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0, chip=88))
    feed(alerts, row("m1", T0 + 1000, chip=70))
    await alerts.flush()
    [past] = await alert_history(db)
    assert past.closed_at == T0 + 1000


async def test_older_rows_and_unknown_things_are_ignored(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0, chip=88))
    alerts.observe([row("m1", T0 - 1000, chip=70), row("ghost", T0, chip=99)])
    assert [a.thing_id for a in alerts.active()] == ["m1"]


async def test_a_poll_error_keeps_snapshot_alerts_and_opens_its_own(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0, chip=88))
    feed(alerts, row("m1", T0 + 1000, err="ERR_DEVICE_OFFLINE"))
    assert {a.code for a in alerts.active("m1")} == {"temp_chip", "poll_error"}
    feed(alerts, row("m1", T0 + 2000, chip=70))
    assert alerts.active("m1") == []


async def test_missing_snapshot_and_forgotten_things(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0), row("m2", T0, chip=90))
    alerts.check(now=T0 + 120_000)  # exactly 2 stale windows: not yet
    assert {a.code for a in alerts.active()} == {"temp_chip"}
    alerts.check(now=T0 + 120_001)
    missing = alerts.active("m1")
    assert [a.code for a in missing] == ["snapshot_missing"]
    assert missing[0].created_at == T0 + 120_001
    alerts.check(now=T0 + 200_000)
    assert alerts.active("m1") == missing  # persists: same alert
    feed(alerts, row("m1", T0 + 100_000))  # a late snapshot closes it
    assert alerts.active("m1") == []

    alerts.live.remove_thing("m2")
    alerts.check(now=T0 + 150_000)
    assert alerts.active() == []
    await alerts.flush()
    history = await alert_history(db)
    assert {(a.thing_id, a.code) for a in history} == {
        ("m1", "snapshot_missing"),
        ("m2", "snapshot_missing"),
        ("m2", "temp_chip"),
    }
    closed = {a.code: a for a in history if a.thing_id == "m1"}
    # closed_at never precedes the alert's own last update.
    assert closed["snapshot_missing"].closed_at == T0 + 120_001


async def test_restart_keeps_ids(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0, chip=88))
    await alerts.stop()  # writes what is queued
    first = alerts.active()[0]
    again = make(db)
    await again.load()
    assert again.active() == [first]
    feed(again, row("m1", T0 + 1000, chip=89))
    assert again.active()[0].id == first.id


async def test_rollup_helpers(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0, chip=99), row("m2", T0, chip=88))
    assert alerts.severities_of("m1") == ["critical"]
    assert alerts.counts_by_severity(["m1", "m2", "nope"]) == {
        "critical": 1,
        "high": 1,
        "medium": 0,
        "low": 0,
    }
    assert [a.severity for a in alerts.active()] == ["critical", "high"]


async def test_a_failing_notifier_or_store_loses_nothing(db: AsyncEngine) -> None:
    def boom(event: str, alert: Alert) -> None:
        raise RuntimeError("smtp down")

    alerts = make(db)
    alerts.notify = boom
    feed(alerts, row("m1", T0, chip=88))
    assert len(alerts.active()) == 1
    await db.dispose()
    engine = alerts.engine
    broken = create_engine("sqlite+aiosqlite:///nonexistent-dir/x/y.db")
    alerts.engine = broken
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        await alerts.flush()
    await broken.dispose()
    alerts.engine = engine
    feed(alerts, row("m1", T0 + 1000, chip=99))
    assert await alerts.flush() == 1
    [stored] = await open_alerts(db)
    assert stored.severity == "critical"


async def test_a_refused_fence_writes_nothing_and_losing_the_lead_drops_the_queue(
    db: AsyncEngine,
) -> None:
    # A leader that lost its lock (server/leader.py fence): its alert changes are not
    # written; once it knows it follows, it drops them (the new leader evaluates again).
    async def fence(conn: Any) -> None:
        raise NotLeader("the leader lock is no longer this server's")

    alerts = make(db)
    alerts.fence = fence
    feed(alerts, row("m1", T0, chip=88))
    with pytest.raises(NotLeader):
        await alerts.flush()
    assert await open_alerts(db) == [] and alerts.flush_failures == 1
    await alerts.follow()
    alerts.fence = no_fence
    assert await alerts.flush() == 0 and await open_alerts(db) == []


async def test_alerts_channel_full_state_then_diffs(db: AsyncEngine) -> None:
    alerts = make(db)
    hub = alerts.live.hub
    feed(alerts, row("m1", T0, chip=88))
    sub = Subscriber()
    hub.subscribe(sub, ALERTS_CHANNEL, 7)
    first = json_loads(sub.queue.get_nowait())
    assert first["type"] == "snapshot" and first["id"] == 7
    [a] = first["data"]["alerts"]
    assert a["code"] == "temp_chip"
    feed(alerts, row("m2", T0, chip=99), row("m1", T0 + 1000, chip=70))
    hub.flush()
    diff = json_loads(sub.queue.get_nowait())
    assert diff["type"] == "diff" and diff["channel"] == "alerts"
    assert diff["data"]["remove"] == [a["id"]]
    assert [u["thing_id"] for u in diff["data"]["upsert"]] == ["m2"]
    assert LiveIndex.valid_channel(ALERTS_CHANNEL)


async def test_no_snapshot_is_missing_right_after_start(db: AsyncEngine) -> None:
    alerts = make(db)
    feed(alerts, row("m1", T0))
    alerts.started_at = T0 + 600_000  # the server was down for 10 minutes
    alerts.check(now=T0 + 600_000 + 60_000)
    assert alerts.active() == []
    alerts.check(now=T0 + 600_000 + 120_001)
    assert {a.code for a in alerts.active()} == {"snapshot_missing"}
