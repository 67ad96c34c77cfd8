"""Snapshots read once: the hot values ingest decodes (a row's ``view``) give the live
index, the alert rules and the rollups exactly what the model's dict of the snapshot gave;
bus payloads are decoded trusted but garbage is still terminated."""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.core.errors import BadRequest
from hashfleet.model.checked import decode_checked
from hashfleet.model.snapshot import Snapshot, decode_view
from hashfleet.server.alerts.engine import AlertEngine
from hashfleet.server.alerts.rules import SCREENS, Ctx, RuleSet
from hashfleet.server.bus.embedded import EmbeddedBus
from hashfleet.server.ingest.receive import receive_batch
from hashfleet.server.ingest.rows import deciding_rows, full_doc
from hashfleet.server.ingest.worker import (
    IngestWorker,
    PoisonMessage,
    StoreSink,
    decode_rows,
    encode_rows,
)
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.live.latest import Latest, hot_from_snap, hot_from_view
from hashfleet.server.series.ops import ThingAcc, extract, extract_view, plan_of
from hashfleet.server.series.rollup import Rollup
from hashfleet.server.series.spec import DEFAULT_SPEC, StatSpec
from hashfleet.wire.codec import json_dumps
from hashfleet.wire.messages import IngestBatch
from tests.server.ingest.strategies import SNAPSHOTS

TYPES = sorted(DEFAULT_SPEC)
POOLS = {"pools": [{"tag": "site-a", "urls": ["stratum+tcp://main:3333"]}]}


# The two ways a row gets its view: receive's check (embedded bus) and a NATS worker's
# trusted decode of the bus payload.
READERS = st.sampled_from([decode_checked, decode_view])


def decoded(snap: dict[str, Any], read: Any = decode_view) -> tuple[bytes, dict[str, Any], Any]:
    """The wire JSON, the model's dict (what rows carried as ``doc``) and the view."""
    raw = json_dumps(snap)
    return raw, msgspec.json.decode(raw, type=Snapshot).to_dict(), read(raw)


@settings(max_examples=300, deadline=None)
@given(snap=SNAPSHOTS, read=READERS)
def test_hot_values_of_a_view_are_those_of_the_dict(snap: dict[str, Any], read: Any) -> None:
    raw, doc, view = decoded(snap, read)
    assert hot_from_view(view) == hot_from_snap(doc)
    assert hot_from_view(msgspec.json.decode(raw, type=Snapshot)) == hot_from_snap(doc)
    by_view = Latest.from_row({"ts": 1, "err": None, "snap": msgspec.Raw(raw), "view": view})
    by_raw = Latest.from_row({"ts": 1, "err": None, "snap": raw})  # decoded whole
    by_doc = Latest.from_row({"ts": 1, "err": None, "snap": raw, "doc": doc})
    assert by_view.hot == by_raw.hot == by_doc.hot
    assert by_view == by_doc and by_view.json == raw


@settings(max_examples=300, deadline=None)
@given(
    snap=SNAPSHOTS,
    thing_type=st.sampled_from(TYPES),
    err=st.sampled_from([None, "ERR_X"]),
    failed=st.booleans(),
    read=READERS,
)
def test_rollup_fields_of_a_view_are_those_of_the_dict(
    snap: dict[str, Any], thing_type: str, err: str | None, failed: bool, read: Any
) -> None:
    _, doc, view = decoded(snap, read)
    spec = StatSpec().types[thing_type]
    assert plan_of(spec).on_view
    if failed:
        doc = view = None
    assert extract_view(spec, "m1", view, err) == extract(spec, "m1", doc, err)
    by_view, by_dict = ThingAcc(), ThingAcc()
    for ts in (2, 1, 3):
        assert by_view.add_view(spec, ts, "m1", view, err)
        by_dict.add(spec, ts, extract(spec, "m1", doc, err))
    assert by_view.result(spec) == by_dict.result(spec)


def test_a_spec_reading_beyond_the_view_reads_the_whole_snapshot() -> None:
    raw_spec = {"miner": {"thing": {"cpu": {"path": "stats.host.cpu_temp_c"}}, "stat": {}}}
    spec = StatSpec(raw_spec).types["miner"]
    assert not plan_of(spec).on_view
    assert extract_view(spec, "m1", None, None) is None
    assert not ThingAcc().add_view(spec, 1, "m1", None, None)
    live = LiveIndex()
    live.put_thing({"id": "m1", "type": "miner", "tags": []})
    rollup = Rollup(None, live, StatSpec(raw_spec), [0])  # type: ignore[arg-type]
    raw = json_dumps({"stats": {"host": {"cpu_temp_c": 61.0}}})
    rollup.observe(
        [{"thing_id": "m1", "ts": 1, "err": None, "snap": raw, "view": decode_view(raw)}]
    )
    ((acc,),) = [b.values() for b in rollup._open.values()]
    assert acc.result(spec) == {"cpu": 61.0}


@settings(max_examples=400, deadline=None)
@given(
    snap=SNAPSHOTS,
    thing_type=st.sampled_from(TYPES),
    tags=st.sampled_from([[], ["site-a"], ["site-b"]]),
    err=st.sampled_from([None, "ERR_DEVICE_OFFLINE"]),
    config=st.sampled_from([{}, POOLS, {"rules": {"*": {"power_high": {"max_w": 3200}}}}]),
    read=READERS,
)
def test_a_screen_finds_exactly_when_its_rule_does(
    snap: dict[str, Any],
    thing_type: str,
    tags: list[str],
    err: str | None,
    config: Any,
    read: Any,
) -> None:
    _, doc, view = decoded(snap, read)
    rules = RuleSet(config)
    thing = {"id": "m1", "type": thing_type, "tags": tags}
    for eff in rules.for_type(thing_type):
        if eff.rule.periodic:
            continue
        screen = SCREENS[eff.rule.code](eff.params, rules.pools)
        ctx = Ctx(thing, doc, doc["stats"], err, 1, eff.params, rules.pools)
        found = eff.rule.evaluate(ctx, eff.severity)
        assert screen(view, err, thing) == bool(found), eff.rule.code
        if not eff.rule.needs_snap:
            ctx = Ctx(thing, {}, {}, err, 1, eff.params, rules.pools)
            assert screen(None, err, thing) == bool(eff.rule.evaluate(ctx, eff.severity))


def _alert_state(engine: AlertEngine) -> list[tuple[str, str, str, str, int]]:
    return sorted(
        (a.thing_id, a.code, a.severity, a.description, a.created_at) for a in engine.active()
    )


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["m1", "m2"]), SNAPSHOTS, st.sampled_from([None, "ERR_X"])),
        min_size=1,
        max_size=12,
    ),
    config=st.sampled_from([{}, POOLS]),
    read=READERS,
)
def test_alerts_from_views_are_those_from_dicts(steps: list[Any], config: Any, read: Any) -> None:
    """Alerts open, change and close the same whether rows carry views or dicts (the
    screens skip the rules only where they would find nothing)."""
    engines, events = [], []
    for _ in range(2):
        live = LiveIndex()
        for thing_id, tags in (("m1", ["site-a"]), ("m2", [])):
            live.put_thing({"id": thing_id, "type": "miner", "tags": tags})
        seen: list[tuple[str, str, str]] = []
        events.append(seen)
        engines.append(
            AlertEngine(
                None, live, config, lambda e, a, seen=seen: seen.append((e, a.code, a.description))
            )  # type: ignore[arg-type]
        )
    for ts, (thing_id, snap, err) in enumerate(steps):
        raw, doc, view = decoded(snap, read)
        if err is not None:
            raw, doc, view = None, None, None  # type: ignore[assignment]
        base = {"thing_id": thing_id, "ts": ts, "err": err}
        engines[0].observe([{**base, "doc": doc}])
        engines[1].observe([{**base, "snap": raw, "view": view}])
        assert _alert_state(engines[0]) == _alert_state(engines[1])
    assert events[0] == events[1]


def test_full_doc_reads_the_row_as_the_model_does() -> None:
    raw, doc, view = decoded({"stats": {"hashrate": 5, "fans": [{"index": 0, "rpm": 0}]}})
    assert full_doc({"snap": raw, "view": view}) == doc
    assert full_doc({"snap": raw, "view": decode_checked(raw)}) == doc
    assert full_doc({"snap": msgspec.Raw(raw), "view": view}) == doc
    assert full_doc({"snap": None, "view": None}) is None
    assert full_doc({"snap": b'{"stats": 1}', "view": view}) is None


def test_bus_rows_decode_trusted_views_and_garbage_is_poison() -> None:
    rows = [
        {"spool_id": "s", "seq": 1, "thing_id": "m1", "rack_id": "r", "ts": 1, "err": None,
         "snap": msgspec.Raw(b'{"stats": {"hashrate": 7}}')},
        {"spool_id": "s", "seq": 2, "thing_id": "m1", "rack_id": "r", "ts": 2, "err": "ERR_X",
         "snap": None},
    ]  # fmt: skip
    back = decode_rows(encode_rows(rows), with_views=True)
    assert [r["view"] and r["view"].stats.hashrate for r in back] == [7.0, None]
    assert "doc" not in back[0] and back[1]["snap"] is None
    for garbage in (b"[1, 2]", b'"text"', b'{"stats": []}', b'{"stats": {"hashboards": 1}}'):
        rows[0]["snap"] = msgspec.Raw(garbage)
        with pytest.raises(PoisonMessage):
            decode_rows(encode_rows(rows), with_views=True)


class FakeMsg:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")

    async def term(self) -> None:
        self.settled.append("term")


class ViewSink(StoreSink):
    needs_views = True

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def commit(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.rows.extend(rows)
        return rows


async def test_a_message_with_a_garbage_snapshot_is_terminated_the_others_written() -> None:
    def message(seq: int, snap: bytes) -> FakeMsg:
        row = {"spool_id": "s", "seq": seq, "thing_id": "m1", "rack_id": "r", "ts": seq,
               "err": None, "snap": msgspec.Raw(snap)}  # fmt: skip
        return FakeMsg(encode_rows([row]))

    sink = ViewSink()
    notices: list[Any] = []

    async def notify(parts: list[tuple[bytes, Any]], new: Any) -> None:
        notices.append(([p for p, _ in parts], len(new)))

    worker = IngestWorker("w", lambda: None, sink, notify=notify)  # type: ignore[arg-type,return-value]
    good, bad = message(1, b'{"stats": {}}'), message(2, b'{"stats": "no"}')
    await worker.process([good, bad])
    assert (good.settled, bad.settled, worker.poison) == (["ack"], ["term"], 1)
    assert [r["view"].stats.status for r in sink.rows] == ["online"]
    assert notices == [([good.data], 1)]  # the message's own payload, not an encoding


class NatsLikeBus:
    """A bus that sends rows elsewhere (like NATS): only their encoding travels."""

    delivers_rows = False

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def publish(self, rows: list[dict[str, Any]]) -> int:
        self.rows.extend(rows)
        return len(rows)


def _batch(*snaps: Any) -> IngestBatch:
    items = [{"seq": i + 1, "thing_id": "m1", "ts": 5, "snap": s} for i, s in enumerate(snaps)]
    return msgspec.json.decode(json_dumps({"spool_id": "s", "items": items}), type=IngestBatch)


async def test_receive_checks_once_and_keeps_a_view_only_for_an_in_process_writer() -> None:
    live = LiveIndex()
    live.put_thing({"id": "m1", "type": "miner", "rack": "r1", "tags": []})
    nats = NatsLikeBus()
    await receive_batch(_batch({"stats": {"hashrate": 1}}, None), "r1", live, nats)  # type: ignore[arg-type]
    assert [("view" in r, "doc" in r) for r in nats.rows] == [(False, False)] * 2
    with pytest.raises(BadRequest, match="item 2"):
        await receive_batch(_batch({"stats": {}}, {"stats": {"hashrate": "x"}}), "r1", live, nats)  # type: ignore[arg-type]

    got: list[dict[str, Any]] = []

    async def handler(rows: list[dict[str, Any]]) -> int:
        got.extend(rows)
        return len(rows)

    bus = EmbeddedBus()
    await bus.start(handler)
    try:
        await receive_batch(_batch({"stats": {"hashrate": 1}}, None), "r1", live, bus)
    finally:
        await bus.stop()
    # The checked snapshot is the view: thousands of them wait for their commit, and the
    # garbage collector has none of them to walk.
    view = got[0]["view"]
    assert view.stats.hashrate == 1.0 and not gc.is_tracked(view)
    assert got[1]["view"] is None and "doc" not in got[0]


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2", "m3"]),
            st.integers(0, 6),
            st.sampled_from(["a", "b", "offline", None]),
        ),
        max_size=14,
    ),
    before=st.lists(st.tuples(st.sampled_from(["m1", "m2"]), st.integers(0, 6)), max_size=2),
)
def test_the_deciding_rows_leave_the_live_index_as_all_rows_do(
    steps: list[tuple[str, int, str | None]], before: list[tuple[str, int]]
) -> None:
    def make_row(thing_id: str, ts: int, kind: str | None) -> dict[str, Any]:
        snap = None
        if kind is not None:
            status = "offline" if kind == "offline" else "online"
            model = {"a": "S19", "b": "S21"}.get(kind)
            snap = json_dumps(
                {"stats": {"status": status, "hashrate": ts}, "config": {"model": model}}
            )
        return {
            "thing_id": thing_id,
            "ts": ts,
            "err": None if snap else "ERR_DEVICE_OFFLINE",
            "snap": snap,
            "view": snap and decode_view(snap),
        }

    indexes = []
    for _ in range(2):
        live = LiveIndex(stale_ms=10**12)
        for thing_id in ("m1", "m2", "m3"):
            live.put_thing({"id": thing_id, "type": "miner", "tags": []})
        live.apply([make_row(t, ts, "a") for t, ts in before])
        indexes.append(live)
    rows = [make_row(*step) for step in steps]
    indexes[0].apply(rows)
    indexes[1].apply(deciding_rows(rows))
    assert len(deciding_rows(rows)) <= len(rows)
    a, b = indexes
    assert [(k, d["last"]) for k, d in a.things.items()] == [
        (k, d["last"]) for k, d in b.things.items()
    ]
    assert [(k, d["last"] and d["last"].hot) for k, d in a.things.items()] == [
        (k, d["last"] and d["last"].hot) for k, d in b.things.items()
    ]
    assert list(a._fresh.items()) == list(b._fresh.items())
    assert a.aggregates.to_dict() == b.aggregates.to_dict()
