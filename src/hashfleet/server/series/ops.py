"""The rollup operations: snapshot → thing values, bucket reduction, things → tag entry,
and merging entries over time (coarser levels, tailLog's aggregated fields).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

import msgspec.inspect as mi

from hashfleet.model.alert import SEVERITIES
from hashfleet.model.snapshot import STATUS_ONLINE, SnapshotView
from hashfleet.server.series.spec import CONCAT_LIMIT, StatField, TypeSpec

Data = dict[str, Any]


class Entry:
    """One log entry: bucket start, snapshots in it (``cnt``), 5-minute intervals, values."""

    __slots__ = ("cnt", "data", "intervals", "ts")

    def __init__(self, ts: int, cnt: int, intervals: int, data: Data) -> None:
        self.ts = ts
        self.cnt = cnt
        self.intervals = intervals
        self.data = data


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    return None


_PATH, _ONLINE, _OFFLINE_ID, _ERROR = range(4)
_SOURCES = {"$online": _ONLINE, "$offline_id": _OFFLINE_ID, "$error": _ERROR}


class Plan:
    """A type's thing fields compiled for the ingest hot path (paths split once).

    ``on_view``: every path ends at a scalar of :class:`SnapshotView`, so the fields can
    be read from a snapshot's view (:func:`extract_view`) instead of its dict.
    """

    __slots__ = ("fields", "on_view", "view_getters")

    def __init__(self, spec: TypeSpec) -> None:
        self.fields = tuple(
            (name, _SOURCES.get(tf.path, _PATH), tuple(tf.path.split(".")), tf.op, tf.scale)
            for name, tf in spec.thing.items()
        )
        getters = [
            _view_getter(parts) if kind == _PATH else None for _, kind, parts, _, _ in self.fields
        ]
        self.on_view = all(g is not False for g in getters)
        # Per field: how to read it from a view (None for the computed sources).
        self.view_getters: tuple[Callable[[Any], Any] | None, ...] = tuple(
            g if callable(g) else None for g in getters
        )


_SCALARS = (mi.FloatType, mi.IntType, mi.StrType, mi.BoolType, mi.NoneType)


def _view_getter(parts: Sequence[str]) -> Callable[[Any], Any] | bool:
    """How to read ``parts`` from a (non-None) :class:`SnapshotView`: False unless it leads
    to a scalar field, whose type is the model's, so the value read is the one the model's
    dict holds."""
    node: Any = mi.type_info(SnapshotView)
    optional = False  # an optional section on the way: it may be None
    for i, part in enumerate(parts):
        if isinstance(node, mi.UnionType):
            structs = [t for t in node.types if isinstance(t, mi.StructType)]
            others = [t for t in node.types if not isinstance(t, (mi.StructType, mi.NoneType))]
            if len(structs) != 1 or others:
                return False
            node = structs[0]
            optional = optional or i > 0
        if not isinstance(node, mi.StructType):
            return False
        field = next((f for f in node.fields if f.name == part), None)
        if field is None:
            return False
        node = field.type
    types = node.types if isinstance(node, mi.UnionType) else (node,)
    if not all(isinstance(t, _SCALARS) for t in types):
        return False
    if not optional:
        return attrgetter(".".join(parts))

    def get(view: Any) -> Any:
        value = view
        for part in parts:
            if value is None:
                return None
            value = getattr(value, part)
        return value

    return get


_PLANS: dict[int, tuple[TypeSpec, Plan]] = {}


def plan_of(spec: TypeSpec) -> Plan:
    """The compiled plan of ``spec`` (cached for the spec's lifetime)."""
    hit = _PLANS.get(id(spec))
    if hit is None or hit[0] is not spec:
        hit = _PLANS[id(spec)] = (spec, Plan(spec))
    return hit[1]


def extract(spec: TypeSpec, thing_id: str, snap: Data | None, err: str | None) -> Data:
    """The thing fields of one snapshot (``None`` where the snapshot has no value)."""
    stats = (snap or {}).get("stats") or {}
    online = snap is not None and err is None and stats.get("status") == STATUS_ONLINE
    out: Data = {}
    for name, kind, parts, op, scale in plan_of(spec).fields:
        if kind == _ONLINE:
            out[name] = 1.0 if online else 0.0
        elif kind == _OFFLINE_ID:
            out[name] = None if online else thing_id
        elif kind == _ERROR:
            out[name] = err
        else:
            value: Any = snap
            for part in parts:
                value = value.get(part) if type(value) is dict else None
            num = _num(value)
            if op == "last":
                out[name] = num * scale if num is not None and scale != 1.0 else value
            else:
                out[name] = None if num is None else num * scale
    return out


def extract_view(spec: TypeSpec, thing_id: str, view: Any, err: str | None) -> Data | None:
    """:func:`extract` from a snapshot's view (``None``: the poll failed) — the same
    values as from the model's dict of it; ``None`` when the spec reads fields the view
    does not have (then :func:`extract` on the whole snapshot)."""
    plan = plan_of(spec)
    if not plan.on_view:
        return None
    values = _view_values(plan, thing_id, view, err)
    return {f[0]: v for f, v in zip(plan.fields, values, strict=True)}


def _view_values(plan: Plan, thing_id: str, view: Any, err: str | None) -> list[Any]:
    """The thing fields of a snapshot's view, in the plan's order (``plan.on_view``)."""
    online = view is not None and err is None and view.stats.status == STATUS_ONLINE
    out: list[Any] = []
    for (_name, kind, _parts, op, scale), get in zip(plan.fields, plan.view_getters, strict=True):
        if get is not None:
            value = None if view is None else get(view)
            num = value if value.__class__ is float and value == value else _num(value)
            if op == "last":
                out.append(num * scale if num is not None and scale != 1.0 else value)
            else:
                out.append(None if num is None else num * scale)
        elif kind == _ONLINE:
            out.append(1.0 if online else 0.0)
        elif kind == _OFFLINE_ID:
            out.append(None if online else thing_id)
        else:
            out.append(err)
    return out


class ThingAcc:
    """A thing's running reduction over one 5-minute bucket.

    Values and counts sit in lists in the order of the type's plan, not in dicts: one of
    these is open per thing (100,000 at a large farm), and a dict of a dozen fields plus a
    Counter cost ~1 KB where the lists cost ~0.3 KB.
    """

    __slots__ = ("cnt", "counts", "last_ts", "values")

    def __init__(self) -> None:
        self.cnt = 0
        self.values: list[Any] = []
        self.counts: list[int] = []
        self.last_ts = -1

    def _sized(self, n: int) -> None:
        if not self.values:
            self.values = [_UNSET] * n
            self.counts = [0] * n

    def add(self, spec: TypeSpec, ts: int, values: Data) -> None:
        """Fold one snapshot's thing values in."""
        fields = plan_of(spec).fields
        self._add(fields, ts, [values.get(f[0]) for f in fields])

    def add_view(self, spec: TypeSpec, ts: int, thing_id: str, view: Any, err: str | None) -> bool:
        """Fold one snapshot in from its view (``None``: the poll failed), as
        ``add(spec, ts, extract(...))`` of its dict would; False (nothing folded) when the
        spec reads fields the view does not have."""
        plan = plan_of(spec)
        if not plan.on_view:
            return False
        self._add(plan.fields, ts, _view_values(plan, thing_id, view, err))
        return True

    def _add(self, fields: tuple[Any, ...], ts: int, values: list[Any]) -> None:
        self._sized(len(fields))
        self.cnt += 1
        newest = ts >= self.last_ts
        if newest:
            self.last_ts = ts
        acc = self.values
        counts = self.counts
        for i, value in enumerate(values):
            op = fields[i][3]
            if op == "last":
                if newest or acc[i] is _UNSET:
                    acc[i] = value
                continue
            if value is None:
                continue
            cur = acc[i]
            if op == "avg":
                acc[i] = value if cur is _UNSET or cur is None else cur + value
                counts[i] += 1
            elif cur is _UNSET or cur is None:
                acc[i] = value
            elif op == "max":
                if value > cur:
                    acc[i] = value
            elif value < cur:
                acc[i] = value

    def absorb(self, spec: TypeSpec, other: ThingAcc) -> None:
        """Fold another accumulator of the same thing and bucket in."""
        fields = plan_of(spec).fields
        self._sized(len(fields))
        other._sized(len(fields))
        newer = other.last_ts >= self.last_ts
        self.cnt += other.cnt
        acc = self.values
        for i, (_name, _kind, _parts, op, _scale) in enumerate(fields):
            self.counts[i] += other.counts[i]
            cur, value = _value(acc[i]), other.values[i]
            if op == "last":
                if newer or acc[i] is _UNSET:
                    acc[i] = value
            elif value is _UNSET or value is None:
                continue
            elif cur is None:
                acc[i] = value
            elif op == "avg":
                acc[i] = cur + value
            else:
                acc[i] = max(cur, value) if op == "max" else min(cur, value)
        self.last_ts = max(self.last_ts, other.last_ts)

    def result(self, spec: TypeSpec) -> Data:
        """The bucket's thing values (means divided out)."""
        fields = plan_of(spec).fields
        self._sized(len(fields))
        out: Data = {}
        for i, (name, _kind, _parts, op, _scale) in enumerate(fields):
            value = _value(self.values[i])
            if op == "avg" and value is not None:
                value = value / self.counts[i]
            out[name] = value
        return out


# A field no snapshot of the bucket has set yet ("last" keeps a None it was given).
_UNSET: Any = object()


def _value(v: Any) -> Any:
    return None if v is _UNSET else v


def merge_thing(spec: TypeSpec, a: Entry, b: Entry) -> Entry:
    """Two partial 5-minute entries of one thing (a late arrival) → one."""
    out: Data = {}
    for name, tf in spec.thing.items():
        va, vb = a.data.get(name), b.data.get(name)
        if va is None or vb is None:
            out[name] = vb if va is None else va
        elif tf.op == "avg":
            out[name] = (va * a.cnt + vb * b.cnt) / (a.cnt + b.cnt)
        elif tf.op == "max":
            out[name] = max(va, vb)
        elif tf.op == "min":
            out[name] = min(va, vb)
        else:
            out[name] = vb
    return Entry(a.ts, a.cnt + b.cnt, 1, out)


# -- things → one tag entry --------------------------------------------------------------


def _values(things: Sequence[Data], src: str | None) -> list[float]:
    out = []
    for t in things:
        n = _num(t.get(src)) if src else None
        if n is not None:
            out.append(n)
    return out


def _group_key(value: Any) -> str:
    return "unknown" if value is None or value == "" else str(value)


def _stat(sf: StatField, things: Sequence[Data], ids: Sequence[str], alerts: Counter[str]) -> Any:
    op = sf.op
    if op == "cnt":
        return len(things) if sf.src is None else len(_values(things, sf.src))
    if op == "alerts_aggr":
        return {s: alerts.get(s, 0) for s in SEVERITIES}
    if op in ("sum", "avg", "max", "min"):
        vals = _values(things, sf.src)
        if op == "sum":
            return sum(vals) * sf.scale
        if not vals:
            return None
        if op == "avg":
            return sum(vals) / len(vals) * sf.scale
        return (max(vals) if op == "max" else min(vals)) * sf.scale
    if op == "obj_concat":
        pairs = [(i, t.get(sf.src or "")) for i, t in zip(ids, things, strict=True)]
        return dict(sorted((i, v) for i, v in pairs if v is not None)[:CONCAT_LIMIT])
    if op == "arr_concat":
        return sorted(str(v) for t in things if (v := t.get(sf.src or "")) is not None)[
            :CONCAT_LIMIT
        ]
    groups: dict[str, list[float]] = {}
    for t in things:
        key = _group_key(t.get(sf.by or ""))
        bucket = groups.setdefault(key, [])
        n = _num(t.get(sf.src)) if sf.src else None
        if n is not None:
            bucket.append(n)
        elif op in ("group_cnt", "group"):
            bucket.append(1.0)
    if op == "group":
        return sorted(groups)
    if op == "group_cnt":
        return {k: len(v) for k, v in sorted(groups.items())}
    if op == "group_sum":
        return {k: sum(v) * sf.scale for k, v in sorted(groups.items())}
    if op == "group_avg":
        return {k: sum(v) / len(v) * sf.scale for k, v in sorted(groups.items()) if v}
    return {k: max(v) * sf.scale for k, v in sorted(groups.items()) if v}  # group_max


def _ratio(sf: StatField, data: Data) -> float | None:
    num, den = _num(data.get(sf.num or "")), _num(data.get(sf.den or ""))
    if num is None or not den:
        return None
    return num / den * sf.scale


def stat_entry(
    spec: TypeSpec, things: Sequence[Data], ids: Sequence[str], alerts: Counter[str]
) -> Data:
    """A tag's entry for one bucket from its things' 5-minute values."""
    data: Data = {}
    for name, sf in spec.stat.items():
        if sf.op != "ratio":
            data[name] = _stat(sf, things, ids, alerts)
    for name, sf in spec.stat.items():
        if sf.op == "ratio":
            data[name] = _ratio(sf, data)
    return data


# -- entries over time --------------------------------------------------------------------

_MEAN = frozenset({"sum", "avg", "cnt", "avg_thing"})
_GROUP_ZERO = frozenset({"group_cnt", "group_sum"})


def _weighted_mean(pairs: list[tuple[float, int]]) -> float | None:
    total = sum(w for _, w in pairs)
    if not total:
        return None
    return sum(v * w for v, w in pairs) / total


def merge_field(op: str, entries: Sequence[Entry], name: str, weight: str) -> Any:
    """One field over several entries, as its operation says (newest entry last)."""
    values = [(e.data.get(name), getattr(e, weight)) for e in entries]
    present = [(v, w) for v, w in values if v is not None]
    if not present:
        return None
    if op in _MEAN:
        nums = [(n, w) for v, w in present if (n := _num(v)) is not None]
        return _weighted_mean(nums)
    if op in ("max", "min"):
        extremes = [n for v, _ in present if (n := _num(v)) is not None]
        if not extremes:
            return None
        return max(extremes) if op == "max" else min(extremes)
    if op in _GROUP_ZERO or op in ("group_avg", "group_max", "alerts_aggr"):
        keys: dict[str, list[tuple[float, int]]] = {}
        for v, w in present:
            if isinstance(v, dict):
                for k, x in v.items():
                    if (n := _num(x)) is not None:
                        keys.setdefault(k, []).append((n, w))
        if op in ("group_max", "alerts_aggr"):
            return {k: max(n for n, _ in v) for k, v in sorted(keys.items())}
        if op in _GROUP_ZERO:
            # A key missing from an interval counted zero there (no such things then).
            total = sum(w for _, w in present)
            return {k: sum(n * w for n, w in v) / total for k, v in sorted(keys.items())}
        return {k: _weighted_mean(v) for k, v in sorted(keys.items())}
    return present[-1][0]  # group, obj_concat, arr_concat, last: the newest


def stat_ops(spec: TypeSpec) -> dict[str, str]:
    """Each stat field's operation."""
    return {name: sf.op for name, sf in spec.stat.items()}


def thing_ops(spec: TypeSpec) -> dict[str, str]:
    """Each thing field's operation, as entries over time merge it."""
    return {name: ("avg_thing" if tf.op == "avg" else tf.op) for name, tf in spec.thing.items()}


def merge_entries(
    ops: dict[str, str], entries: Sequence[Entry], ratios: dict[str, StatField] | None = None
) -> Data:
    """Entries (oldest first) → one set of values; ratios are recomputed from the merge.

    Stat entries weigh by 5-minute intervals; thing entries (``avg_thing``) by snapshots.
    """
    data: Data = {}
    for name, op in ops.items():
        if op == "ratio":
            continue
        weight = "cnt" if op == "avg_thing" else "intervals"
        data[name] = merge_field(op, entries, name, weight)
    for name, sf in (ratios or {}).items():
        data[name] = _ratio(sf, data)
    return data


def ratio_fields(spec: TypeSpec) -> dict[str, StatField]:
    """The spec's ratio fields (recomputed after a merge, never averaged)."""
    return {name: sf for name, sf in spec.stat.items() if sf.op == "ratio"}


def cross_thing(spec: TypeSpec, per_thing: Iterable[Data]) -> Data:
    """Several things' entries for the same bucket → one (``applyAggrCrossthg``)."""
    things = list(per_thing)
    out: Data = {}
    for name, tf in spec.thing.items():
        vals = _values(things, name)
        if tf.op in ("avg", "last"):
            out[name] = sum(vals) if vals else None
        elif vals:
            out[name] = max(vals) if tf.op == "max" else min(vals)
        else:
            out[name] = None
    return out
