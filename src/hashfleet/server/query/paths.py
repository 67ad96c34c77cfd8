"""Dotted paths into JSON documents (``last.snap.stats.hashrate``, ``tags.0``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

_MISSING = object()
MISSING: Any = _MISSING


class Resolvable:
    """A node that resolves the rest of a path itself (a packed value, decoded lazily).

    The live index keeps a thing's latest snapshot packed (``live.latest.Latest``); paths
    through it ask it for the value instead of walking dicts.
    """

    __slots__ = ()

    def lookup(self, parts: Sequence[str]) -> Any:
        """The value at ``parts`` below this node, or :data:`MISSING`."""
        raise NotImplementedError


def getter(path: str) -> Callable[[Any], Any]:
    """A function returning the value at ``path`` in a document, or :data:`MISSING`.

    Arrays are traversed the Mongo way only by numeric index here; matching against
    array members is done by the matcher, which sees the array itself.
    """
    parts = path.split(".")
    # What is left of the path after each step, for a node that resolves it itself.
    rests = [tuple(parts[i:]) for i in range(len(parts))]
    if len(parts) == 1:
        key = parts[0]

        def get1(doc: Any) -> Any:
            if isinstance(doc, dict):
                return doc.get(key, _MISSING)
            if isinstance(doc, Resolvable):
                return doc.lookup(rests[0])
            return _MISSING

        return get1

    def get(doc: Any) -> Any:
        # Fast path: plain dicts all the way down (the usual case).
        cur = doc
        for i, part in enumerate(parts):
            if cur.__class__ is not dict:
                if isinstance(cur, Resolvable):
                    return cur.lookup(rests[i])
                return get_slow(doc)
            cur = cur.get(part, _MISSING)
            if cur is _MISSING:
                return _MISSING
        return cur

    def get_slow(doc: Any) -> Any:
        cur = doc
        for i, part in enumerate(parts):
            if isinstance(cur, dict):
                cur = cur.get(part, _MISSING)
            elif isinstance(cur, Resolvable):
                return cur.lookup(rests[i])
            elif isinstance(cur, list) and part.isascii() and part.isdigit():
                idx = int(part)
                cur = cur[idx] if idx < len(cur) else _MISSING
            elif isinstance(cur, list):
                # Mongo semantics: a path through an array of documents reaches each member.
                vals = [v for v in (getter(part)(x) for x in cur) if v is not _MISSING]
                cur = vals if vals else _MISSING
            else:
                return _MISSING
            if cur is _MISSING:
                return _MISSING
        return cur

    return get


def project(doc: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Mongo-style projection: ``{"id": 1, "last.snap.stats.hashrate": 1}`` keeps those paths.

    Exclusion projections (all values falsy) drop the named paths instead.
    """
    if not fields:
        return doc
    include = any(bool(v) for v in fields.values())
    if include:
        out: dict[str, Any] = {}
        for path, flag in fields.items():
            if not flag:
                continue
            _copy_path(doc, out, path.split("."))
        return out
    out = _deep_copy_dicts(doc)
    for path in fields:
        _drop_path(out, path.split("."))
    return out


def _copy_path(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in src:
        return
    if len(parts) == 1:
        dst[head] = src[head]
        return
    sub = src[head]
    if isinstance(sub, Resolvable):
        value = sub.lookup(tuple(parts[1:]))
        if value is not _MISSING:
            _put_path(dst, parts, value)
        return
    if isinstance(sub, dict):
        child = dst.setdefault(head, {})
        if isinstance(child, dict):
            _copy_path(sub, child, parts[1:])


def _put_path(dst: dict[str, Any], parts: list[str], value: Any) -> None:
    cur = dst
    for part in parts[:-1]:
        child = cur.setdefault(part, {})
        if not isinstance(child, dict):
            return
        cur = child
    cur[parts[-1]] = value


def _deep_copy_dicts(doc: Any) -> dict[str, Any]:
    if isinstance(doc, Resolvable) and hasattr(doc, "to_dict"):
        doc = doc.to_dict()
    return {
        k: _deep_copy_dicts(v) if isinstance(v, (dict, Resolvable)) else v for k, v in doc.items()
    }


def _drop_path(doc: dict[str, Any], parts: list[str]) -> None:
    cur: Any = doc
    for part in parts[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)
