"""PackedObject: a thing's info/opts kept as JSON, read as the dict it holds."""

from __future__ import annotations

from typing import Any

import pytest

from hashfleet.server.live.index import LiveIndex
from hashfleet.server.live.packed import PackedObject, unpack
from hashfleet.server.live.status import summary_row
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.paths import MISSING, getter, project
from hashfleet.server.store.changes import thing_diff
from hashfleet.wire.codec import json_dumps, json_loads

INFO: dict[str, Any] = {"serial": "S1", "pos": {"site": "tx1", "row": 3}, "tags": ["a", "b"]}


def test_reads_as_the_dict_it_holds() -> None:
    p = PackedObject.pack(INFO)
    assert isinstance(p, PackedObject)
    assert p == INFO and INFO.__eq__(dict(p)) and p == PackedObject.pack(dict(INFO))
    assert p != {**INFO, "serial": "S2"}
    assert p["pos"] == {"site": "tx1", "row": 3} and p.get("nope", 7) == 7
    assert "serial" in p and "nope" not in p and len(p) == 3
    assert list(p) == list(INFO) and dict(p) == INFO and {**p} == INFO
    assert unpack(p) == INFO and unpack(p) is not unpack(p)  # fresh each time
    with pytest.raises(KeyError):
        p["nope"]
    with pytest.raises(TypeError):
        p["serial"] = "x"  # type: ignore[index]


def test_only_dicts_are_packed_and_empty_ones_are_shared() -> None:
    assert PackedObject.pack(None) is None and PackedObject.pack([1]) == [1]
    assert PackedObject.pack({}) is PackedObject.pack({}) and PackedObject.pack({}) == {}
    p = PackedObject.pack(INFO)
    assert PackedObject.pack(p) is p


def test_encodes_to_the_same_json() -> None:
    doc = {"id": "t1", "info": PackedObject.pack(INFO), "opts": PackedObject.pack({})}
    assert json_loads(json_dumps(doc)) == {"id": "t1", "info": INFO, "opts": {}}


def test_paths_queries_and_projections_see_through_it() -> None:
    doc = {"id": "t1", "info": PackedObject.pack(INFO)}
    assert getter("info.pos.site")(doc) == "tx1"
    assert getter("info.pos.nope")(doc) is MISSING
    assert getter("info.tags.1")(doc) == "b"
    assert compile_query({"info.pos.row": {"$gte": 3}})(doc)
    assert not compile_query({"info.pos.site": "tx2"})(doc)
    assert compile_query({"info.tags": "a"})(doc)
    assert compile_query({"info": INFO})(doc)
    assert project(doc, {"id": 1, "info.pos.site": 1}) == {
        "id": "t1",
        "info": {"pos": {"site": "tx1"}},
    }
    assert json_loads(json_dumps(project(doc, {"info": 1}))) == {"info": INFO}
    assert project(doc, {"info.serial": 0}) == {
        "id": "t1",
        "info": {"pos": INFO["pos"], "tags": ["a", "b"]},
    }


def test_change_log_diffs_keys_inside_it() -> None:
    before = {"info": PackedObject.pack(INFO), "opts": PackedObject.pack({"password": "x"})}
    after = {"info": {**INFO, "serial": "S2"}, "opts": {"password": "y"}}
    assert thing_diff(before, after) == {
        "info.serial": ["S1", "S2"],
        "opts.password": ["***", "***"],
    }


def test_the_live_index_keeps_info_and_opts_packed() -> None:
    live = LiveIndex()
    doc = {"id": "t1", "code": "c", "type": "miner-am", "rack": "r1", "tags": ["site-x"],
           "info": dict(INFO), "opts": {"family": "antminer", "address": "10.0.0.1"}}  # fmt: skip
    live.put_thing(doc)
    kept = live.things["t1"]
    assert isinstance(kept["info"], PackedObject) and isinstance(kept["opts"], PackedObject)
    assert kept["opts"].get("family") == "antminer" and kept["info"] == INFO


def test_fleet_rows_read_the_address_and_family_of_packed_opts() -> None:
    opts = {"family": "antminer", "address": "10.0.0.1", "port": 4028, "password": "x"}
    packed = {
        "id": "t1",
        "opts": PackedObject.pack(opts),
        "info": PackedObject.pack({"model": "S21"}),
    }
    row = summary_row(packed)
    assert row == summary_row({"id": "t1", "opts": opts, "info": {"model": "S21"}})
    assert (row["address"], row["family"], row["model"]) == ("10.0.0.1", "antminer", "S21")
    odd = summary_row({"id": "t2", "opts": PackedObject.pack({"address": 7})})
    assert (odd["address"], odd["family"]) == (7, None)
