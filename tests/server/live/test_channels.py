"""Channels: full state first, then throttled diffs, only to subscribers."""

from __future__ import annotations

import asyncio
import json

from hashfleet.server.live.channels import Subscriber
from hashfleet.server.live.index import LiveIndex
from tests.server.live.test_index import snap_row, thing


def drain(sub: Subscriber) -> list[dict[str, object]]:
    out = []
    while not sub.queue.empty():
        out.append(json.loads(sub.queue.get_nowait()))
    return out


def test_subscribe_gets_full_state_then_one_merged_diff() -> None:
    live = LiveIndex()
    live.load([thing("a"), thing("b")])
    sub = Subscriber()
    live.hub.subscribe(sub, "fleet", request_id=7)
    first = drain(sub)
    assert first[0]["type"] == "snapshot" and first[0]["id"] == 7
    assert {r["id"] for r in first[0]["data"]["rows"]} == {"a", "b"}
    # Three updates inside one throttle window make one diff.
    live.apply([snap_row("a", 1)])
    live.apply([snap_row("a", 2)])
    live.apply([snap_row("b", 3)])
    live.hub.flush()
    msgs = drain(sub)
    assert len(msgs) == 1
    assert msgs[0]["type"] == "diff"
    assert {r["id"] for r in msgs[0]["data"]["upsert"]} == {"a", "b"}
    live.hub.flush()
    assert drain(sub) == []


def test_only_subscribers_of_a_channel_receive_it() -> None:
    live = LiveIndex()
    live.load([thing("a"), thing("b")])
    sub_a, sub_agg = Subscriber(), Subscriber()
    live.hub.subscribe(sub_a, "thing:a")
    live.hub.subscribe(sub_agg, "aggregates")
    drain(sub_a), drain(sub_agg)
    live.apply([snap_row("b", 1)])
    live.hub.flush()
    assert drain(sub_a) == []
    agg = drain(sub_agg)
    assert agg[0]["channel"] == "aggregates" and agg[0]["data"]["alive"] == "1/2"
    live.apply([snap_row("a", 2)])
    live.hub.flush()
    msgs = drain(sub_a)
    assert msgs[0]["channel"] == "thing:a"
    assert msgs[0]["data"]["last"]["ts"] == 2


def test_removed_thing_appears_in_fleet_diff() -> None:
    live = LiveIndex()
    live.load([thing("a")])
    sub = Subscriber()
    live.hub.subscribe(sub, "fleet")
    drain(sub)
    live.remove_thing("a")
    live.hub.flush()
    assert drain(sub)[0]["data"] == {"upsert": [], "remove": ["a"]}


def test_slow_subscriber_gets_a_fresh_snapshot_instead_of_a_backlog() -> None:
    live = LiveIndex()
    live.load([thing("a")])
    sub = Subscriber(max_pending=2)
    live.hub.subscribe(sub, "fleet")
    for ts in range(1, 6):
        live.apply([snap_row("a", ts)])
        live.hub.flush()
    assert sub.queue.qsize() == 2
    drain(sub)
    live.hub.flush()
    resync = drain(sub)
    assert resync[0]["type"] == "snapshot"
    assert resync[0]["data"]["rows"][0]["ts"] == 5


def test_unsubscribe_stops_messages() -> None:
    live = LiveIndex()
    live.load([thing("a")])
    sub = Subscriber()
    live.hub.subscribe(sub, "fleet")
    live.hub.unsubscribe(sub, "fleet")
    drain(sub)
    live.apply([snap_row("a", 1)])
    live.hub.flush()
    assert drain(sub) == []
    assert not live.hub.has_subscribers("fleet")


async def test_a_change_after_a_quiet_spell_goes_out_at_once_then_throttled() -> None:
    live = LiveIndex(throttle_s=1.0)
    live.load([thing("a")])
    sub = Subscriber()
    live.hub.subscribe(sub, "fleet")
    drain(sub)
    loop = asyncio.get_running_loop()
    live.hub.start()
    try:
        await asyncio.sleep(1.1)  # quiet for longer than the throttle
        start = loop.time()
        live.apply([snap_row("a", 1)])
        first = json.loads(await asyncio.wait_for(sub.queue.get(), 2))
        leading = loop.time() - start
        live.apply([snap_row("a", 2)])  # right after a diff: waits out the interval
        second = json.loads(await asyncio.wait_for(sub.queue.get(), 3))
        trailing = loop.time() - start
    finally:
        await live.hub.stop()
    assert first["data"]["upsert"][0]["ts"] == 1 and second["data"]["upsert"][0]["ts"] == 2
    assert leading < 0.5  # not a whole interval
    assert trailing >= 0.95  # at most one diff per interval
