"""Mongo-style sort specifications (``{"last.snap.stats.hashrate": -1}``)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from hashfleet.core.errors import QueryInvalid
from hashfleet.server.query.paths import MISSING, getter

# Mongo orders values of different kinds by kind:
# missing/null < numbers < strings < objects < arrays < booleans. Within a rank the keys are
# always of one Python type, so mixed documents never make the comparison fail.
_RANK_NONE, _RANK_NUM, _RANK_STR, _RANK_OBJ, _RANK_ARR, _RANK_BOOL = range(6)


def sort_key(value: Any) -> tuple[int, Any]:
    """The Mongo ordering key of a value (kind first, then the value)."""
    if value is MISSING or value is None:
        return (_RANK_NONE, 0)
    if isinstance(value, bool):
        return (_RANK_BOOL, int(value))
    if isinstance(value, (int, float)):
        return (_RANK_NUM, value)
    if isinstance(value, str):
        return (_RANK_STR, value)
    if isinstance(value, dict):
        return (_RANK_OBJ, str(value))
    return (_RANK_ARR, str(value))


# A top-n selection beats a full sort when n is this much smaller than the input.
_HEAP_RATIO = 8


def sort_docs(
    docs: list[Any],
    spec: Any,
    key_of: Callable[[Any], Any] | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Sort ``docs`` by ``spec`` (stable, multi-key); ``key_of`` maps an item to its document.

    With ``limit`` only the first ``limit`` of the sorted documents are wanted: the result
    may then be cut to them (it is never shorter), and a single-key sort selects them
    with a heap instead of sorting everything.
    """
    if not spec:
        return docs
    if not isinstance(spec, dict):
        raise QueryInvalid("sort must be an object of path → 1 or -1")
    of = key_of or _identity
    items = list(spec.items())
    for _path, direction in items:
        if direction not in (1, -1):
            raise QueryInvalid("sort directions are 1 or -1")
    if len(items) == 1 and limit is not None and limit * _HEAP_RATIO <= len(docs):
        top = _top_n(docs, items[0][0], items[0][1] == -1, of, limit)
        if top is not None:
            return top
    # Stable sorts applied from the last key to the first give a multi-key sort.
    for path, direction in reversed(items):
        get = getter(path)

        def key_of_doc(d: Any, g: Callable[[Any], Any] = get) -> tuple[int, Any]:
            return sort_key(g(of(d)))

        docs = sorted(docs, key=key_of_doc, reverse=direction == -1)
    return docs


def _identity(d: Any) -> Any:
    return d


def _top_n(
    docs: list[Any], path: str, reverse: bool, of: Callable[[Any], Any], n: int
) -> list[Any] | None:
    """``sorted(docs, key, reverse)[:n]`` by a heap, or None when a key is NaN.

    ``heapq.nsmallest``/``nlargest`` are documented as equal to ``sorted(...)[:n]``, ties
    included; NaN, which compares false with everything, is the one case where the result
    depends on the algorithm, so it falls back to the full sort.
    """
    get = getter(path)
    keys: list[tuple[int, Any]] = []
    append = keys.append
    for d in docs:
        v = get(of(d))
        cls = v.__class__
        if cls is float:
            if v != v:  # NaN
                return None
            append((_RANK_NUM, v))
        elif cls is int:
            append((_RANK_NUM, v))
        else:
            k = sort_key(v)
            if k[1] != k[1]:  # NaN in a float subclass
                return None
            append(k)
    pick = heapq.nlargest if reverse else heapq.nsmallest
    return [docs[i] for i in pick(n, range(len(docs)), key=keys.__getitem__)]
