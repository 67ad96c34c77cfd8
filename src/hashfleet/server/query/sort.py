"""Mongo-style sort specifications (``{"last.snap.stats.hashrate": -1}``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hashfleet.core.errors import QueryInvalid
from hashfleet.server.query.paths import MISSING, getter

# Mongo orders values of different kinds by kind:
# missing/null < numbers < strings < objects < arrays < booleans. Within a rank the keys are
# always of one Python type, so mixed documents never make the comparison fail.
_RANK_NONE, _RANK_NUM, _RANK_STR, _RANK_OBJ, _RANK_ARR, _RANK_BOOL = range(6)


def _key(value: Any) -> tuple[int, Any]:
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


def sort_docs(docs: list[Any], spec: Any, key_of: Callable[[Any], Any] | None = None) -> list[Any]:
    """Sort ``docs`` by ``spec`` (stable, multi-key); ``key_of`` maps an item to its document."""
    if not spec:
        return docs
    if not isinstance(spec, dict):
        raise QueryInvalid("sort must be an object of path → 1 or -1")
    of = key_of or (lambda d: d)
    # Stable sorts applied from the last key to the first give a multi-key sort.
    for path, direction in reversed(list(spec.items())):
        if direction not in (1, -1):
            raise QueryInvalid("sort directions are 1 or -1")
        get = getter(path)

        def sort_key(d: Any, g: Callable[[Any], Any] = get) -> tuple[int, Any]:
            return _key(g(of(d)))

        docs = sorted(docs, key=sort_key, reverse=direction == -1)
    return docs
