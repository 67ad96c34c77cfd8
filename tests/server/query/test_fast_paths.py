"""The fast paths (string equality, string ``$in``, dict-only paths, top-n heap, unsorted
early stop) give exactly what the plain Mongo semantics give, on random docs and queries."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.server.live.index import LiveIndex
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.paths import getter
from hashfleet.server.query.sort import sort_docs
from hashfleet.server.registry import Registry

_M = object()

# -- plain reference semantics ------------------------------------------------------------


def ref_get(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part, _M)
        elif isinstance(cur, list) and part.isascii() and part.isdigit():
            idx = int(part)
            cur = cur[idx] if idx < len(cur) else _M
        elif isinstance(cur, list):
            # Each member that is a document, one level (nested arrays are not entered).
            vals = [x.get(part, _M) for x in cur if isinstance(x, dict)]
            vals = [v for v in vals if v is not _M]
            cur = vals if vals else _M
        else:
            return _M
        if cur is _M:
            return _M
    return cur


def ref_eq1(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def ref_eq(v: Any, target: Any) -> bool:
    if v is _M:
        return target is None
    if ref_eq1(v, target):
        return True
    return isinstance(v, list) and any(ref_eq1(x, target) for x in v)


def ref_match(doc: Any, query: dict[str, Any]) -> bool:
    for path, cond in query.items():
        v = ref_get(doc, path)
        if isinstance(cond, dict) and "$in" in cond:
            ok = any(ref_eq(v, t) for t in cond["$in"])
        elif isinstance(cond, dict) and "$nin" in cond:
            ok = not any(ref_eq(v, t) for t in cond["$nin"])
        elif isinstance(cond, dict) and "$ne" in cond:
            ok = not ref_eq(v, cond["$ne"])
        else:
            ok = ref_eq(v, cond)
        if not ok:
            return False
    return True


def ref_rank(value: Any) -> tuple[int, Any]:
    if value is _M or value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, dict):
        return (3, str(value))
    return (4, str(value))


def ref_sort(docs: list[Any], spec: dict[str, int]) -> list[Any]:
    for path, direction in reversed(list(spec.items())):
        docs = sorted(docs, key=lambda d, p=path: ref_rank(ref_get(d, p)), reverse=direction == -1)
    return docs


# -- random documents and queries ---------------------------------------------------------

WORDS = st.sampled_from(["a", "b", "c", "t-miner", "rack-1", ""])
SCALARS = st.one_of(
    WORDS,
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, -1.5, 2.5]),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["b", "c", "0"]), inner)
    ),
    max_leaves=6,
)
PATHS = st.sampled_from(["tags", "v", "a.b", "a.b.c", "a.0", "a.b.0", "missing.x"])


@st.composite
def doc_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 40))
    docs = []
    for i in range(n):
        doc: dict[str, Any] = {"id": f"d{i:03d}"}
        if draw(st.booleans()):
            doc["tags"] = draw(st.lists(st.one_of(WORDS, SCALARS), max_size=5))
        if draw(st.booleans()):
            doc["v"] = draw(VALUES)
        if draw(st.booleans()):
            doc["a"] = draw(VALUES)
        docs.append(doc)
    return docs


CONDS = st.one_of(
    WORDS,
    SCALARS,
    st.builds(lambda xs: {"$in": xs}, st.lists(WORDS, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$nin": xs}, st.lists(WORDS, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$in": xs}, st.lists(SCALARS, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$nin": xs}, st.lists(SCALARS, min_size=1, max_size=3)),
    st.builds(lambda x: {"$ne": x}, WORDS),
)
QUERIES = st.dictionaries(PATHS, CONDS, max_size=2)
SORTS = st.one_of(
    st.none(),
    st.dictionaries(PATHS, st.sampled_from([1, -1]), min_size=1, max_size=1),
    st.dictionaries(PATHS, st.sampled_from([1, -1]), min_size=1, max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(docs=doc_lists(), query=QUERIES)
def test_matcher_and_getter_match_plain_semantics(
    docs: list[dict[str, Any]], query: dict[str, Any]
) -> None:
    pred = compile_query(query)
    assert [d["id"] for d in docs if pred(d)] == [d["id"] for d in docs if ref_match(d, query)]
    for path in ("v", "a.b", "a.b.c", "a.0", "a.b.0"):
        get = getter(path)
        for d in docs:
            got, want = get(d), ref_get(d, path)
            assert (got is not None and got.__class__ is object) == (want is _M)
            if want is not _M:
                assert got == want


@settings(max_examples=400, deadline=None)
@given(docs=doc_lists(), spec=SORTS, limit=st.integers(0, 12))
def test_top_n_sort_matches_full_sort(
    docs: list[dict[str, Any]], spec: dict[str, int] | None, limit: int
) -> None:
    full = ref_sort(docs, spec) if spec else docs
    out = sort_docs(docs, spec, limit=limit)
    assert [d["id"] for d in out[:limit]] == [d["id"] for d in full[:limit]]
    assert len(out) >= min(limit, len(docs))


def test_top_n_sort_with_nan_falls_back_to_the_full_sort() -> None:
    docs = [{"id": str(i), "h": float("nan") if i % 3 == 0 else i % 5} for i in range(40)]
    full = sort_docs(docs, {"h": -1})
    assert sort_docs(docs, {"h": -1}, limit=3) == full  # fell back: the whole sorted list
    assert [d["id"] for d in sort_docs(docs, {"h": 1}, limit=3)[:3]] == [
        d["id"] for d in sort_docs(docs, {"h": 1})[:3]
    ]


@settings(max_examples=300, deadline=None)
@given(
    docs=doc_lists(),
    query=QUERIES,
    spec=SORTS,
    offset=st.integers(0, 15),
    limit=st.integers(0, 15),
)
def test_select_matches_filter_sort_slice(
    docs: list[dict[str, Any]],
    query: dict[str, Any],
    spec: dict[str, int] | None,
    offset: int,
    limit: int,
) -> None:
    live = LiveIndex()
    for d in docs:
        live.things[d["id"]] = d  # as put_thing stores them, without the hub's bookkeeping
        live.lookup.update(d)
    registry = Registry(None, live)  # type: ignore[arg-type]
    matched = [d for d in docs if ref_match(d, query)]
    want = (ref_sort(matched, spec) if spec else matched)[offset : offset + limit]
    got = registry.select(query, spec, offset, limit)
    assert [d["id"] for d in got] == [d["id"] for d in want]
