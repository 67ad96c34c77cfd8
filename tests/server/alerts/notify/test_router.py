"""Routing, de-duplication, queues and failure isolation of the NotifyRouter."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hashfleet.server.alerts.engine import AlertEngine
from hashfleet.server.alerts.notify.base import Message
from hashfleet.server.alerts.notify.router import Backoff, NotifyRouter
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.store.engine import create_engine
from tests.server.alerts.notify.fakes import T0, FakeHttp, Reply, make_alert, until
from tests.support.databases import sqlite_url
from tests.support.live_server import free_port

FAST = Backoff(base_s=0.01, cap_s=0.05)


def fleet() -> LiveIndex:
    live = LiveIndex()
    things = [
        ("m1", "miner", ["t-miner", "site-a"]),
        ("m2", "miner", ["t-miner", "site-b"]),
        ("c1", "container", ["t-container", "site-a"]),
    ]
    for thing_id, thing_type, tags in things:
        live.put_thing(
            {"id": thing_id, "code": thing_id, "type": thing_type, "rack": "r1", "tags": tags}
        )
    return live


def hook(url: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": name, "url": f"{url}/{name}", **extra}


def delivered(fake: FakeHttp, name: str) -> list[tuple[str, str]]:
    """(event, alert id) of each post to ``name``, in order."""
    out = []
    for r in fake.received:
        if r.path == f"/{name}":
            doc = json.loads(r.body)
            out.append((doc["event"], doc["alert"]["id"]))
    return out


async def settle(router: NotifyRouter) -> None:
    """Wait until every queue is empty and nothing is in flight."""
    await until(lambda: all(ch.idle.is_set() for ch in router.channels.values()))


async def test_severity_events_types_and_tags() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter(
            [
                hook(fake.url, "default"),  # high and worse, both events
                hook(fake.url, "all", min_severity="low"),
                hook(fake.url, "crit", min_severity="critical", events=["opened"]),
                hook(fake.url, "containers", min_severity="low", types=["container"]),
                hook(fake.url, "site-a", min_severity="low", tags=["site-a", "site-x"]),
                hook(fake.url, "resolved", min_severity="low", events=["closed"]),
            ],
            fleet(),
        )
        router.start()
        router.submit("opened", make_alert("crit1", "critical", "m1"))
        router.submit("opened", make_alert("high1", "high", "m2"))
        router.submit("opened", make_alert("med1", "medium", "c1"))
        router.submit("opened", make_alert("low1", "low", "m2"))
        router.submit("opened", make_alert("odd1", "unheard-of", "m1"))  # ranks below low
        for alert_id, severity, thing in [("crit1", "critical", "m1"), ("med1", "medium", "c1")]:
            router.submit("closed", make_alert(alert_id, severity, thing, closed=True))
        await settle(router)
        await router.stop()
    assert delivered(fake, "default") == [
        ("opened", "crit1"),
        ("opened", "high1"),
        ("closed", "crit1"),
    ]
    opened_then_closed = ["crit1", "high1", "med1", "low1", "crit1", "med1"]
    assert [a for _, a in delivered(fake, "all")] == opened_then_closed
    assert delivered(fake, "crit") == [("opened", "crit1")]
    assert delivered(fake, "containers") == [("opened", "med1"), ("closed", "med1")]
    assert delivered(fake, "site-a") == [
        ("opened", "crit1"),
        ("opened", "med1"),
        ("closed", "crit1"),
        ("closed", "med1"),
    ]
    assert delivered(fake, "resolved") == [("closed", "crit1"), ("closed", "med1")]


async def test_dedup() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter([hook(fake.url, "h")], fleet())
        router.start()
        router.submit("opened", make_alert("a1"))
        router.submit("opened", make_alert("a1"))  # re-opened under the same id
        router.submit("closed", make_alert("a1", closed=True))
        router.submit("closed", make_alert("a1", closed=True))
        router.submit("opened", make_alert("a1"))  # after its close: still not again
        router.submit("closed", make_alert("never-opened", closed=True))
        # Opened below the route; escalated, then closed at high: the close is not sent.
        router.submit("opened", make_alert("a2", "medium"))
        router.submit("closed", make_alert("a2", "high", closed=True))
        # Opened at high, de-escalated to low, closed: the close follows its open.
        router.submit("opened", make_alert("a3", "high"))
        router.submit("closed", make_alert("a3", "low", closed=True))
        await settle(router)
        await router.stop()
    assert delivered(fake, "h") == [
        ("opened", "a1"),
        ("closed", "a1"),
        ("opened", "a3"),
        ("closed", "a3"),
    ]


def test_dedup_memory_is_bounded() -> None:
    router = NotifyRouter([hook("http://127.0.0.1:9", "h")], fleet(), dedup_max=3)
    for i in range(10):
        router.submit("opened", make_alert(f"a{i}"))
    ch = router.channels["h"]
    assert list(ch.seen) == ["a7", "a8", "a9"]
    router.submit("opened", make_alert("a7"))  # touched: now the most recent
    router.submit("opened", make_alert("a10"))
    assert list(ch.seen) == ["a9", "a7", "a10"]


async def test_overflow_drops_oldest() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter([hook(fake.url, "h")], fleet(), queue_max=3)
        for i in range(5):  # not started yet: everything queues
            router.submit("opened", make_alert(f"a{i}"))
        assert router.stats()["h"]["dropped"] == 2
        assert router.stats()["h"]["queued"] == 3
        router.start()
        await until(lambda: router.stats()["h"]["sent"] == 3)
        await router.stop()
    assert [a for _, a in delivered(fake, "h")] == ["a2", "a3", "a4"]


async def test_one_notifier_failing_does_not_hold_the_others() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter(
            [
                {"type": "webhook", "name": "down", "url": f"http://127.0.0.1:{free_port()}"},
                hook(fake.url, "up"),
            ],
            fleet(),
            backoff=Backoff(base_s=0.2, cap_s=0.2),
        )
        router.start()
        started = time.monotonic()
        router.submit("opened", make_alert("a1"))
        await until(lambda: router.stats()["up"]["sent"] == 1)
        assert time.monotonic() - started < 0.5
        await until(lambda: router.stats()["down"]["retried"] >= 1)
        await router.stop()
    assert router.stats()["down"]["last_error"] == "ERR_NOTIFY_UNAVAILABLE"


async def test_submit_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    router = NotifyRouter([hook("http://127.0.0.1:9", "h")], fleet(), backoff=FAST)
    ch = router.channels["h"]

    async def broken(message: Message) -> None:
        raise RuntimeError("notifier bug")

    monkeypatch.setattr(ch.notifier, "send", broken)
    router.start()
    router.submit("opened", make_alert("a1"))
    router.submit("opened", None)  # type: ignore[arg-type]  # garbage from a caller
    router.submit("bogus", make_alert("a2"))
    await until(lambda: router.stats()["h"]["failed"] == 1)
    assert router.stats()["h"]["last_error"] == "ERR_NOTIFY_INTERNAL"
    assert router.stats()["h"]["retried"] == 0  # a bug is not retried
    await router.stop()

    # A broken live index (the lookup itself raising) is contained too.
    class Boom(dict[str, Any]):
        def get(self, *args: Any, **kw: Any) -> Any:
            raise KeyError("boom")

    live = fleet()
    live.things = Boom()
    NotifyRouter([hook("http://127.0.0.1:9", "h")], live).submit("opened", make_alert())


async def test_stop_drains_then_cancels() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter([hook(fake.url, "h")], fleet())
        router.start()
        for i in range(3):
            router.submit("opened", make_alert(f"a{i}"))
        await router.stop()  # returns once the three are out
        assert router.stats()["h"]["sent"] == 3

        fake.default = Reply(200, delay_s=1.2)
        router = NotifyRouter([hook(fake.url, "h")], fleet(), drain_s=0.3)
        router.start()
        for i in range(3):
            router.submit("opened", make_alert(f"b{i}"))
        started = time.monotonic()
        await router.stop()
        assert time.monotonic() - started < 1.5
        assert router.stats()["h"]["dropped"] == 3  # one in flight, two queued
        assert router.stats()["h"]["sent"] == 0


async def test_prime_sends_close_of_alert_open_across_restart() -> None:
    async with FakeHttp() as fake:
        router = NotifyRouter([hook(fake.url, "h")], fleet())
        router.prime([make_alert("old"), make_alert("old-low", "low")])
        router.start()
        router.submit("opened", make_alert("old"))  # already notified before the restart
        router.submit("closed", make_alert("old", closed=True))
        router.submit("closed", make_alert("old-low", "low", closed=True))
        await settle(router)
        await router.stop()
    assert delivered(fake, "h") == [("closed", "old")]


async def test_engine_to_webhook(tmp_path: Path) -> None:
    """The engine's notify callback, wired as ServerState does, reaches a receiver."""
    live = fleet()
    db = create_engine(sqlite_url(tmp_path))  # never flushed here: observe is in memory
    try:
        async with FakeHttp() as fake:
            router = NotifyRouter([hook(fake.url, "h")], live)
            engine = AlertEngine(db, live, {})
            engine.notify = router.submit
            router.start()

            def row(ts: int, chip: float) -> dict[str, Any]:
                stats = {
                    "status": "online",
                    "hashboards": [{"index": 0, "temp_chip": chip, "temp_board": 60, "ok": True}],
                }
                return {"thing_id": "m1", "ts": ts, "err": None, "doc": {"stats": stats}}

            engine.observe([row(T0, 99)])
            engine.observe([row(T0 + 1000, 99)])  # still hot: same alert, no new message
            engine.observe([row(T0 + 2000, 60)])
            await settle(router)
            await router.stop()
    finally:
        await db.dispose()
    posts = [json.loads(r.body) for r in fake.received]
    assert [p["event"] for p in posts] == ["opened", "closed"]
    assert posts[0]["alert"]["code"] == "temp_chip"
    assert posts[0]["alert"]["severity"] == "critical"
    assert posts[0]["alert"]["id"] == posts[1]["alert"]["id"]
    assert posts[0]["thing"]["type"] == "miner" and posts[0]["thing"]["tags"][1] == "site-a"
