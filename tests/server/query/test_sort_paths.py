"""Sorting by dotted paths and Mongo-style projections."""

from __future__ import annotations

import pytest

from hashfleet.core.errors import QueryInvalid
from hashfleet.server.query.paths import project
from hashfleet.server.query.sort import sort_docs

DOCS = [
    {"id": "a", "s": {"h": 5}, "name": "x"},
    {"id": "b", "s": {"h": None}, "name": "y"},
    {"id": "c", "s": {"h": 9}, "name": "x"},
    {"id": "d", "name": "z"},
]


def test_sort_descending_puts_missing_last() -> None:
    out = sort_docs(DOCS, {"s.h": -1})
    assert [d["id"] for d in out] == ["c", "a", "b", "d"]


def test_sort_ascending_puts_missing_first() -> None:
    out = sort_docs(DOCS, {"s.h": 1})
    assert [d["id"] for d in out][:2] == ["b", "d"]
    assert [d["id"] for d in out][2:] == ["a", "c"]


def test_multi_key_sort() -> None:
    out = sort_docs(DOCS, {"name": 1, "s.h": -1})
    assert [d["id"] for d in out] == ["c", "a", "b", "d"]


def test_bad_sort_direction() -> None:
    with pytest.raises(QueryInvalid):
        sort_docs(DOCS, {"name": 2})


def test_inclusion_projection_keeps_only_named_paths() -> None:
    doc = {"id": "a", "last": {"snap": {"stats": {"hashrate": 1, "temp": 2}}}, "opts": {}}
    assert project(doc, {"id": 1, "last.snap.stats.hashrate": 1}) == {
        "id": "a",
        "last": {"snap": {"stats": {"hashrate": 1}}},
    }


def test_exclusion_projection_drops_paths_without_touching_the_source() -> None:
    doc = {"id": "a", "last": {"snap": {"stats": {"hashrate": 1, "temp": 2}}}}
    out = project(doc, {"last.snap.stats.temp": 0})
    assert out == {"id": "a", "last": {"snap": {"stats": {"hashrate": 1}}}}
    assert doc["last"]["snap"]["stats"]["temp"] == 2


def test_sort_over_values_of_every_kind_never_fails() -> None:
    values = [True, [1], {"a": 1}, "s", 2, None, False, [0], {"b": 0}, 1.5]
    docs = [{"id": i, "v": v} for i, v in enumerate(values)]
    # Mongo's order of kinds: null < numbers < strings < objects < arrays < booleans.
    ordered = [d["v"] for d in sort_docs(docs, {"v": 1})]
    assert ordered[:4] == [None, 1.5, 2, "s"]
    assert ordered[-2:] == [False, True]
    assert sort_docs(docs, {"v": -1})[0]["v"] is True


def test_only_ascii_digits_index_arrays() -> None:
    from hashfleet.server.query.paths import MISSING, getter

    doc = {"tags": ["a", "b", "c"]}
    assert getter("tags.2")(doc) == "c"
    # "²" is a digit to str.isdigit() but not an index.
    assert getter("tags.\u00b2")(doc) is MISSING
