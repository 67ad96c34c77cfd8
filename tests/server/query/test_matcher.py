"""The Mongo-style matcher: every operator, dotted paths, arrays, and invalid queries."""

from __future__ import annotations

from typing import Any

import pytest

from hashfleet.core.errors import QueryInvalid
from hashfleet.server.query.matcher import compile_query

DOCS: list[dict[str, Any]] = [
    {
        "id": "a",
        "tags": ["t-miner", "rack-1"],
        "last": {
            "snap": {
                "stats": {
                    "status": "online",
                    "hashrate": 104e12,
                    "temp_max": 71,
                    "hashboards": [{"index": 0, "ok": True}, {"index": 1, "ok": False}],
                }
            }
        },
    },
    {
        "id": "b",
        "tags": ["t-miner", "rack-2"],
        "last": {"snap": {"stats": {"status": "offline", "hashrate": 0, "temp_max": None}}},
    },
    {"id": "c", "tags": ["t-xmrig"], "info": {"site": "North"}, "last": None},
]


def ids(query: Any) -> list[str]:
    pred = compile_query(query)
    return [d["id"] for d in DOCS if pred(d)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, ["a", "b", "c"]),
        ({}, ["a", "b", "c"]),
        ({"id": "a"}, ["a"]),
        ({"last.snap.stats.status": {"$eq": "online"}}, ["a"]),
        ({"last.snap.stats.status": {"$ne": "online"}}, ["b", "c"]),
        ({"last.snap.stats.hashrate": {"$gt": 1e12}}, ["a"]),
        ({"last.snap.stats.hashrate": {"$gte": 0}}, ["a", "b"]),
        ({"last.snap.stats.hashrate": {"$lt": 1}}, ["b"]),
        ({"last.snap.stats.temp_max": {"$lte": 71}}, ["a"]),
        ({"tags": {"$in": ["t-miner"]}}, ["a", "b"]),
        ({"tags": "t-xmrig"}, ["c"]),
        ({"tags": {"$nin": ["rack-1"]}}, ["b", "c"]),
        ({"info.site": {"$exists": True}}, ["c"]),
        ({"info.site": {"$exists": False}}, ["a", "b"]),
        ({"info.site": {"$regex": "^nor", "$options": "i"}}, ["c"]),
        ({"tags": {"$regex": "^rack-"}}, ["a", "b"]),
        ({"$or": [{"id": "a"}, {"id": "c"}]}, ["a", "c"]),
        ({"$and": [{"tags": "t-miner"}, {"last.snap.stats.status": "offline"}]}, ["b"]),
        ({"$nor": [{"id": "a"}]}, ["b", "c"]),
        ({"last.snap.stats.hashrate": {"$not": {"$gt": 1}}}, ["b", "c"]),
        ({"last.snap.stats.hashboards": {"$elemMatch": {"ok": False}}}, ["a"]),
        ({"last.snap.stats.hashboards.ok": False}, ["a"]),
        ({"last.snap.stats.hashboards": {"$size": 2}}, ["a"]),
        ({"tags": {"$all": ["t-miner", "rack-2"]}}, ["b"]),
        ({"last.snap.stats.temp_max": None}, ["b", "c"]),
        (
            {
                "tags": {"$in": ["t-miner"]},
                "last.snap.stats.hashrate": {"$gt": 0},
                "last.snap.stats.status": "online",
            },
            ["a"],
        ),
    ],
)
def test_operators_select_the_right_documents(query: Any, expected: list[str]) -> None:
    assert ids(query) == expected


def test_booleans_do_not_equal_numbers() -> None:
    pred = compile_query({"x": 1})
    assert pred({"x": 1})
    assert not pred({"x": True})


def test_comparisons_do_not_cross_types() -> None:
    pred = compile_query({"x": {"$gt": 5}})
    assert not pred({"x": "9"})
    assert pred({"x": 9.5})


@pytest.mark.parametrize(
    "query",
    [
        [],
        "status",
        {"$where": "1"},
        {"x": {"$bogus": 1}},
        {"$or": {}},
        {"$and": []},
        {"x": {"$in": 3}},
        {"x": {"$regex": "("}},
        {"x": {"$regex": 5}},
        {"x": {"$gt": {"a": 1}}},
        {"x": {"$size": "2"}},
        {"x": {"$eq": 1, "y": 2}},
        {"x": {"$regex": "a", "$options": "q"}},
    ],
)
def test_invalid_queries_raise_err_query_invalid(query: Any) -> None:
    with pytest.raises(QueryInvalid) as info:
        compile_query(query)
    assert info.value.code == "ERR_QUERY_INVALID"


def test_deep_nesting_is_refused() -> None:
    query: dict[str, Any] = {"id": "a"}
    for _ in range(40):
        query = {"$and": [query]}
    with pytest.raises(QueryInvalid):
        compile_query(query)


def test_a_catastrophic_regex_is_refused_within_its_time_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from hashfleet.server.query import matcher

    monkeypatch.setattr(matcher, "REGEX_BUDGET_S", 0.2)
    pred = compile_query({"info.n": {"$regex": "^(a|aa)+$"}})
    docs = [{"info": {"n": "a" * 40 + "!"}}] * 50
    started = time.monotonic()
    with pytest.raises(QueryInvalid, match="regex took more than"):
        [d for d in docs if pred(d)]
    # Unbounded, this pattern backtracks for tens of seconds per document; the budget cuts it.
    assert time.monotonic() - started < 5
