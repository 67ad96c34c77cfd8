"""Hypothesis strategies that break device replies, and the check every parser must pass.

Each family's parser tests take a real reply (a fixture) and feed the parser what a sick
or hostile device sends instead: the reply cut short, grown huge, with values swapped for
other JSON types, re-encoded, or random bytes. The parser may only return a snapshot or
raise a :class:`hashfleet.core.errors.DeviceError`; anything else (``KeyError``,
``TypeError``, a hang) is a bug that would take more than this device down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from hashfleet.core.errors import DeviceError

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:8]):
            out += _paths(value, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = _replace(copy[head], rest, value)
    return copy


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(doc, dict):
            return {k: v for k, v in doc.items() if k != path[0]}
        return [v for i, v in enumerate(doc) if i != path[0]]
    head = path[0]
    if isinstance(doc, dict):
        return {**doc, head: _delete(doc[head], path[1:])}
    copy = list(doc)
    copy[head] = _delete(copy[head], path[1:])
    return copy


@st.composite
def mutated_docs(draw: st.DrawFn, doc: Any, max_changes: int = 3) -> Any:
    """``doc`` with 1..``max_changes`` values replaced by other JSON, or keys deleted."""
    for _ in range(draw(st.integers(1, max_changes))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()):
            doc = _delete(doc, path)
        else:
            doc = _replace(doc, path, draw(ANY_JSON))
    return doc


@st.composite
def broken_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` (a real reply's bytes) truncated, padded huge, re-encoded, or random bytes."""
    kind = draw(st.sampled_from(["truncate", "oversize", "encoding", "random", "splice"]))
    if kind == "truncate":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if kind == "oversize":
        return raw[:-1] + b" " * draw(st.integers(1, 200_000)) + raw[-1:] + b"x" * 1000
    if kind == "encoding":
        codec = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252"]))
        return raw.decode("utf-8", "replace").encode(codec, "replace")
    if kind == "random":
        return draw(st.binary(max_size=2000))
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.binary(min_size=1, max_size=50)) + raw[at:]


def mutated_json_bytes(doc: Any) -> st.SearchStrategy[bytes]:
    """Bytes of a mutated ``doc``, or broken bytes of the real one."""
    raw = json.dumps(doc).encode()
    return st.one_of(
        mutated_docs(doc).map(lambda d: json.dumps(d, allow_nan=True).encode()),
        broken_bytes(raw),
    )


def only_device_errors(parse: Callable[[], Any]) -> Any:
    """Run ``parse``; a ``DeviceError`` is fine (returns ``None``), anything else fails."""
    try:
        return parse()
    except DeviceError:
        return None
