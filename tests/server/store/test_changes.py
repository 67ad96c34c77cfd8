"""The change log of things: diffs, the registry's rows, queries — SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import Registry
from hashfleet.server.store import changes
from hashfleet.server.store import things as thing_store
from hashfleet.server.store.engine import create_engine, migrate


def test_diff_paths_tags_and_secrets() -> None:
    before: dict[str, Any] = {
        "info": {"pos": "A1", "site": {"row": 1, "col": 2}},
        "opts": {"family": "antminer", "address": "10.0.0.1", "password": "old"},
        "tags": ["t-miner", "hot"],
    }
    after: dict[str, Any] = {
        "info": {"pos": "B2", "site": {"row": 1, "col": 3}, "note": [1, 2]},
        "opts": {"family": "antminer", "address": "10.0.0.1", "password": "new"},
        "tags": ["t-miner", "cold"],
    }
    assert changes.thing_diff(before, after) == {
        "info.pos": ["A1", "B2"],
        "info.site.col": [2, 3],
        "info.note": [None, [1, 2]],
        "opts.password": ["***", "***"],
        "tags": {"added": ["cold"], "removed": ["hot"]},
    }
    assert changes.thing_diff(before, before) == {}
    # Registering: everything is new; secrets deep inside a value are hidden too.
    new = {"opts": {"family": "rig", "params": {"miners": [{"port": 1, "password": "s"}]}}}
    assert changes.thing_diff({}, new) == {
        "opts.family": [None, "rig"],
        "opts.params": [None, {"miners": [{"port": 1, "password": "***"}]}],
    }


def row(thing: str, ts: int, action: str = "update", user: str = "ann") -> dict[str, Any]:
    return changes.change_row(thing, ts, action, {"info.x": [ts - 1, ts]}, user)


async def test_query_changes(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        await changes.insert_changes(engine, [row("m1", 100), row("m2", 200), row("m1", 300)])
        await changes.insert_changes(engine, [row("m1", 300, user="bob")])
        newest = await changes.list_changes(engine)
        assert [(c["thingId"], c["ts"], c["user"]) for c in newest] == [
            ("m1", 300, "bob"),  # same ms: the later write first
            ("m1", 300, "ann"),
            ("m2", 200, "ann"),
            ("m1", 100, "ann"),
        ]
        assert newest[0]["diff"] == {"info.x": [299, 300]}
        assert newest[0]["action"] == "update" and newest[0]["comment"] is None
        oldest = await changes.list_changes(engine, newest_first=False, limit=2)
        assert [c["ts"] for c in oldest] == [100, 200]
        assert [c["ts"] for c in await changes.list_changes(engine, start=150, end=250)] == [200]
        m1 = await changes.list_changes(engine, thing_ids=["m1"], offset=1, limit=1)
        assert [(c["ts"], c["user"]) for c in m1] == [(300, "ann")]
        assert await changes.count_changes(engine) == 4
        assert await changes.count_changes(engine, thing_ids=["m2", "zz"]) == 1
        assert await changes.count_changes(engine, start=301) == 0
    finally:
        await engine.dispose()


async def test_registry_logs_register_update_forget(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        reg = Registry(engine, LiveIndex())
        await reg.load()
        await reg.register_rack("r1", "miner", {})
        opts = {"family": "antminer", "address": "127.0.0.1"}
        await reg.register_things(
            [{"rack": "r1", "id": "m1", "code": "c1", "opts": opts, "comment": "new"}],
            user="ann",
        )
        await reg.update_thing({"id": "m1", "info": {"pos": "A1"}, "tags": ["hot"]}, user="bob")
        # The same values again change nothing, so nothing is logged.
        await reg.update_thing({"id": "m1", "info": {"pos": "A1"}, "tags": ["hot"]}, user="bob")
        await reg.update_thing({"id": "m1"}, user="bob")
        await reg.forget_things({"ids": ["m1", "unknown"]})
        log = await changes.list_changes(engine, newest_first=False)
        assert [(c["action"], c["user"]) for c in log] == [
            ("register", "ann"),
            ("update", "bob"),
            ("forget", None),
        ]
        register, update, forget = log
        assert register["comment"] == "new"
        assert register["diff"]["opts.address"] == [None, "127.0.0.1"]
        assert set(register["diff"]["tags"]["added"]) == {"t-miner", "rack-r1", "id-m1", "code-c1"}
        assert update["diff"] == {
            "info.pos": [None, "A1"],
            "tags": {"added": ["hot"], "removed": []},
        }
        assert forget["diff"]["info.pos"] == ["A1", None]
        assert "hot" in forget["diff"]["tags"]["removed"]
    finally:
        await engine.dispose()


async def test_a_thing_write_and_its_change_row_commit_together(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        registry = Registry(engine, LiveIndex())
        await registry.register_rack("r1", "miner", {})
        opts = {"family": "antminer", "address": "127.0.0.1"}
        await registry.register_things([{"rack": "r1", "id": "m1", "opts": opts}], user="ann")
        bad = {**row("m1", 500), "action": None}  # NOT NULL: the log insert fails
        with pytest.raises(DBAPIError):
            await thing_store.update_thing(engine, "m1", {"info": {"x": 1}}, [bad])
        [stored] = [t for t in await thing_store.load_things(engine) if t["id"] == "m1"]
        assert stored["info"] == {}  # the thing write was rolled back with its log row
        assert [c["action"] for c in await changes.list_changes(engine)] == ["register"]
    finally:
        await engine.dispose()
