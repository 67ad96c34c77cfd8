"""A snapshot with every field of the canonical model filled, every string hostile.

Built by walking the model's types, so a field added to the model later is covered by the
escaping test without anyone remembering to add it.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi

from hashfleet.model.snapshot import Snapshot

EVIL = '<img src=x onerror="window.__xss=1">'


def _value(t: mi.Type, depth: int) -> Any:
    if isinstance(t, mi.UnionType):
        kinds = [k for k in t.types if not isinstance(k, mi.NoneType)]
        return _value(kinds[0], depth)
    if isinstance(t, mi.StrType):
        return EVIL
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.IntType):
        return 1
    if isinstance(t, mi.FloatType):
        return 1.5
    if isinstance(t, mi.ListType):
        return [_value(t.item_type, depth), _value(t.item_type, depth)]
    if isinstance(t, mi.DictType):
        return {}
    if isinstance(t, mi.StructType):
        return _struct(t, depth + 1)
    raise TypeError(f"no hostile value for {t!r}")


def _struct(t: mi.StructType, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in t.fields:
        if field.name == "index":
            out[field.name] = 0
        elif field.name == "status":
            out[field.name] = "online"  # a status is a CSS class name too; checked elsewhere
        else:
            out[field.name] = _value(field.type, depth)
    return out


def hostile_snapshot() -> dict[str, Any]:
    """Every field of :class:`Snapshot` present; strings are markup, numbers are 1 or 1.5."""
    t = mi.type_info(Snapshot)
    assert isinstance(t, mi.StructType)
    doc = _struct(t, 0)
    # Exercise the GPU view of boards (kind "gpu") rather than the ASIC one.
    for board in doc["stats"]["hashboards"]:
        board["kind"] = "gpu"
    return doc
