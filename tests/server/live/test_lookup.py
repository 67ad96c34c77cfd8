"""Status and tag indexes and sorted views give exactly what filtering and sorting give."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.server.live.index import LiveIndex
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.sort import sort_docs
from hashfleet.server.registry import Registry
from hashfleet.wire.codec import json_dumps

TAGS = ["a", "b", "c", "d"]
STATUSES = ["online", "offline", "error", "sleeping"]
HASHRATES = st.one_of(st.none(), st.sampled_from([0.0, 1e12, 2e12, 5e12]), st.integers(0, 3))

QUERIES = st.one_of(
    st.just({}),
    st.builds(lambda t: {"tags": t}, st.sampled_from(TAGS)),
    st.builds(lambda ts: {"tags": {"$in": ts}}, st.lists(st.sampled_from(TAGS), min_size=1)),
    st.builds(lambda s: {"last.snap.stats.status": s}, st.sampled_from(STATUSES)),
    st.builds(
        lambda s, t: {"last.snap.stats.status": {"$in": s}, "tags": t},
        st.lists(st.sampled_from(STATUSES), min_size=1),
        st.sampled_from(TAGS),
    ),
    st.builds(lambda v: {"last.snap.stats.hashrate": {"$gte": v}}, st.sampled_from([0, 1e12])),
)
SORTS = st.one_of(
    st.none(),
    st.builds(
        lambda p, d: {f"last.snap.stats.{p}": d},
        st.sampled_from(["hashrate", "power_w", "status"]),
        st.sampled_from([1, -1]),
    ),
)
# One step: a thing's snapshot, its tags, its removal, or a stale sweep.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("snap"), st.integers(0, 11), st.sampled_from(STATUSES), HASHRATES),
        st.tuples(st.just("tags"), st.integers(0, 11), st.lists(st.sampled_from(TAGS))),
        st.tuples(st.just("retag"), st.integers(0, 11), st.lists(st.sampled_from(TAGS))),
        st.tuples(st.just("forget"), st.integers(0, 11)),
        st.tuples(st.just("register"), st.integers(0, 11), st.lists(st.sampled_from(TAGS))),
        st.tuples(st.just("sweep")),
    ),
    max_size=25,
)


def _doc(i: int, tags: list[str]) -> dict[str, Any]:
    return {"id": f"t{i:02d}", "type": "miner", "rack": "r1", "tags": tags, "last": None}


@settings(max_examples=150, deadline=None)
@given(
    steps=STEPS,
    queries=st.lists(st.tuples(QUERIES, SORTS, st.integers(0, 4), st.integers(0, 8)), max_size=4),
)
def test_indexes_answer_like_a_scan(steps: list[tuple[Any, ...]], queries: list[Any]) -> None:
    live = LiveIndex(stale_ms=10)
    live.load(_doc(i, TAGS[: i % 3]) for i in range(12))
    registry = Registry(None, live)  # type: ignore[arg-type]
    ts = 1_000
    for step in steps:
        ts += 1
        if step[0] == "snap":
            _, i, status, hashrate = step
            stats = {"status": status, "hashrate": hashrate, "power_w": (i % 4) * 100.0}
            snap = json_dumps({"stats": stats})
            live.apply([{"thing_id": f"t{i:02d}", "ts": ts, "err": None, "snap": snap}])
        elif step[0] == "tags" and f"t{step[1]:02d}" in live.things:
            old = live.things[f"t{step[1]:02d}"]
            live.put_thing({k: v for k, v in old.items() if k != "last"} | {"tags": step[2]})
        elif step[0] == "retag" and f"t{step[1]:02d}" in live.things:
            doc = live.things[f"t{step[1]:02d}"]
            doc["tags"] = step[2]  # changed in place, then put back
            live.put_thing(doc)
        elif step[0] == "forget":
            live.remove_thing(f"t{step[1]:02d}")
        elif step[0] == "register" and f"t{step[1]:02d}" not in live.things:
            live.put_thing(_doc(step[1], step[2]))  # forgotten, then registered again
        elif step[0] == "sweep":
            live.sweep(now=ts + 5)
        for query, sort, offset, limit in queries:
            plain = [
                {**d, "last": dict(d["last"]) if d["last"] else None} for d in live.things.values()
            ]
            pred = compile_query(query)
            matched = [d for d in plain if pred(d)]
            want = (sort_docs(matched, sort) if sort else matched)[offset : offset + limit]
            got = registry.select(query, sort, offset, limit)
            assert [d["id"] for d in got] == [d["id"] for d in want], (query, sort)


def test_forgetting_most_things_compacts_the_tag_positions() -> None:
    live = LiveIndex()
    live.load(_doc(i, ["a", "b"] if i % 2 else ["a"]) for i in range(10))
    registry = Registry(None, live)  # type: ignore[arg-type]
    for i in range(6):
        live.remove_thing(f"t{i:02d}")
    # More forgotten than left: positions renumbered, the forgotten ones gone.
    assert live.lookup.pos == {"t06": 0, "t07": 1, "t08": 2, "t09": 3}
    assert list(live.lookup.by_tag["a"]) == [0, 1, 2, 3]
    assert list(live.lookup.by_tag["b"]) == [1, 3]
    live.put_thing(_doc(3, ["b"]))
    assert [d["id"] for d in registry.select({"tags": "b"}, None, 0, 10)] == ["t07", "t09", "t03"]
    assert [d["id"] for d in registry.select({"tags": "a"}, None, 0, 10)] == [
        "t06",
        "t07",
        "t08",
        "t09",
    ]
