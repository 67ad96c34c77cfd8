"""tailLog, tailLogMulti and tailLogCustomRangeAggr over the rollup logs.

Keys: ``stat-5m``, ``stat-30m``, ``stat-3h``, ``stat-1D`` (type-and-tag entries), ``stat-rtd``
(one entry computed now from the live index), ``thing-5m`` (per-thing entries of the things
a tag selects) and ``thing-5m-<id>``. Entries come newest first.

With ``aggrFields``, entries are merged — all of them, or per ``groupRange`` window
(``"1h"``, ``"1D"``, or ms; days start at the ``timezoneOffset``'s midnight) — each field
by its own operation, and every merged entry carries ``ts``, ``aggrTsRange``,
``aggrCount`` (snapshots) and ``aggrIntervals`` (5-minute intervals). A field ``X_aggr``
is ``X`` merged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from typing import Any

import msgspec
from sqlalchemy import Text, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import BadRequest
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.series.ops import (
    Data,
    Entry,
    cross_thing,
    extract,
    merge_entries,
    ratio_fields,
    stat_entry,
    stat_ops,
    thing_ops,
)
from hashfleet.server.series.rollup import DAY_MS, LEVEL_MS, STEP_MS, AlertsOf, rollup_tags
from hashfleet.server.series.spec import StatSpec, TypeSpec
from hashfleet.server.store.tables import stats, thing_stats

_entries_decoder = msgspec.json.Decoder(list[tuple[int, int, int, dict[str, Any]]])
_entry_decoder = msgspec.json.Decoder(dict[str, Any])

MAX_LIMIT = 100_000
DEFAULT_LIMIT = 100
MULTI_CONCURRENCY = 5
AUTO_FIELDS = ("ts", "aggrTsRange", "aggrCount", "aggrIntervals")
_RANGE_RE = re.compile(r"^(\d+)(m|h|D|d|w)$")
_RANGE_UNIT = {"m": 60_000, "h": 3_600_000, "D": DAY_MS, "d": DAY_MS, "w": 7 * DAY_MS}


class History:
    """Answers the tail-log RPCs from the store and the live index."""

    def __init__(
        self,
        engine: AsyncEngine,
        live: LiveIndex,
        spec: StatSpec,
        offsets: list[int],
        alerts_of: AlertsOf | None = None,
    ) -> None:
        self.engine = engine
        self.live = live
        self.spec = spec
        self.offsets = offsets
        self.alerts_of = alerts_of

    # -- tailLog --------------------------------------------------------------------------

    async def tail_log(self, req: dict[str, Any]) -> list[Data]:
        """tailLog: one log's entries, plain or merged."""
        q = _Query.parse(req, self)
        if q.key == "stat-rtd":
            entries = [self._realtime(q)]
        elif q.key.startswith("thing-5m"):
            return await self._thing_log(q)
        else:
            entries = await self._stat_entries(q)
        ops = stat_ops(q.spec)
        return q.shape(entries, ops, ratio_fields(q.spec))

    async def tail_log_multi(self, req: dict[str, Any]) -> list[list[Data]]:
        """tailLogMulti: several tailLogs (at most 5 at once), shared params per key."""
        keys = req.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
            raise BadRequest("keys must be a non-empty array of objects", code="ERR_KEYS_INVALID")
        if len(keys) > 100:
            raise BadRequest("at most 100 keys", code="ERR_KEYS_INVALID")
        shared = {k: v for k, v in req.items() if k != "keys"}
        for k in keys:
            if not isinstance(k.get("type"), str):
                raise BadRequest("each key needs a type", code="ERR_TYPE_INVALID")
        gate = asyncio.Semaphore(MULTI_CONCURRENCY)

        async def one(key: dict[str, Any]) -> list[Data]:
            async with gate:
                return await self.tail_log({**shared, **key})

        return list(await asyncio.gather(*(one(k) for k in keys)))

    async def _stat_entries(self, q: _Query) -> list[Entry]:
        # Measured (bench/series.py): PostgreSQL is fastest building one JSON array of
        # whole entries (its json -> operator re-parses the text per field); SQLite is
        # fastest sending projected rows (json() to rebuild an array re-parses each).
        pg = self.engine.dialect.name == "postgresql"
        t = stats.c
        data = t.data if pg else _data_column(q.needed(stat_ops(q.spec)))
        inner = (
            select(t.ts.label("ts"), t.cnt.label("cnt"), t.intervals.label("n"), data.label("d"))
            .where(t.key == q.key, t.type == q.type, t.tag == q.tag, t.tz == q.tz)
            .order_by(t.ts.desc())
        )
        if q.start is not None:
            inner = inner.where(t.ts >= q.start)
        if q.end is not None:
            inner = inner.where(t.ts <= q.end)
        if not q.aggregating:
            inner = inner.offset(q.offset).limit(q.limit)
        async with self.engine.connect() as conn:
            if not pg:
                rows = (await conn.execute(select(inner.subquery()))).all()
                decode = _entry_decoder.decode
                return [Entry(ts, cnt, n, decode(d)) for ts, cnt, n, d in rows]
            sub = inner.subquery()
            stmt = select(_JsonArrayAgg(sub.c.ts, sub.c.cnt, sub.c.n, sub.c.d))
            text = (await conn.execute(stmt)).scalar()
        if not text:
            return []
        return [Entry(ts, cnt, n, d) for ts, cnt, n, d in _entries_decoder.decode(text)]

    def _realtime(self, q: _Query) -> Entry:
        ids, things = [], []
        cnt = 0
        for thing_id, doc in sorted(self.live.things.items()):
            if doc.get("type") != q.type or q.tag not in rollup_tags(doc):
                continue
            last = doc.get("last")
            ids.append(thing_id)
            snap = last.get("snap") if last else None
            things.append(extract(q.spec, thing_id, snap, last.get("err") if last else "none"))
            cnt += 1 if last else 0
        alerts: list[str] = []
        if self.alerts_of is not None:
            for thing_id in ids:
                alerts.extend(self.alerts_of(thing_id))
        data = stat_entry(q.spec, things, ids, Counter(alerts))
        return Entry(now_ms(), cnt, 1, data)

    async def _thing_log(self, q: _Query) -> list[Data]:
        if q.key != "thing-5m":
            ids = [q.key[len("thing-5m-") :]]
        else:
            ids = sorted(
                i
                for i, d in self.live.things.items()
                if d.get("type") == q.type and q.tag in (d.get("tags") or [])
            )
        if not ids:
            return []
        t = thing_stats.c
        rows: list[Any] = []
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                stmt = select(t.thing_id, t.ts, t.cnt, t.data).where(
                    t.thing_id.in_(ids[start : start + 500])
                )
                if q.start is not None:
                    stmt = stmt.where(t.ts >= q.start)
                if q.end is not None:
                    stmt = stmt.where(t.ts <= q.end)
                rows.extend((await conn.execute(stmt)).all())
        rows.sort(key=lambda r: (-r[1], r[0]))
        ops = thing_ops(q.spec)
        if len(ids) == 1:
            entries = [Entry(r[1], r[2], 1, r[3]) for r in rows]
            return q.shape(entries, ops, {})
        if q.cross:
            by_ts: dict[int, list[Any]] = {}
            for r in rows:
                by_ts.setdefault(r[1], []).append(r)
            entries = [
                Entry(ts, sum(r[2] for r in rs), 1, cross_thing(q.spec, (r[3] for r in rs)))
                for ts, rs in by_ts.items()
            ]
            return q.shape(entries, ops, {})
        out = []
        for r in rows[q.offset : q.offset + q.limit]:
            out.append({"thingId": r[0], **q.project(Entry(r[1], r[2], 1, r[3]))})
        return out

    # -- tailLogCustomRangeAggr -----------------------------------------------------------

    async def custom_range_aggr(self, req: dict[str, Any]) -> list[Data]:
        """tailLogCustomRangeAggr: daily entries over date ranges, merged or per day."""
        keys = req.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
            raise BadRequest("keys must be a non-empty array of objects", code="ERR_KEYS_INVALID")
        out = []
        for key in keys:
            try:
                data: Any = await self._one_range(key)
                out.append({"type": key.get("type"), "data": data, "error": None})
            except BadRequest as exc:
                out.append({"type": key.get("type"), "data": None, "error": exc.code})
        return out

    async def _one_range(self, key: dict[str, Any]) -> Any:
        spec = self._spec_of(key.get("type"))
        offset = key.get("timezoneOffset", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset not in self.offsets:
            raise BadRequest(
                f"timezoneOffset {offset!r} is not configured (aggrTailLogTimezones)",
                code="ERR_TIMEZONE_OFFSET_INVALID",
            )
        first = _date_ms(key.get("startDate"), "ERR_START_DATE_INVALID") - offset
        last = _date_ms(key.get("endDate"), "ERR_END_DATE_INVALID") - offset
        if last < first:
            raise BadRequest("endDate is before startDate", code="ERR_END_DATE_INVALID")
        if (last - first) // DAY_MS > 3660:
            raise BadRequest("at most ten years", code="ERR_END_DATE_INVALID")
        tag = key.get("tag") or f"t-{key['type']}"
        if not isinstance(tag, str):
            raise BadRequest("tag must be a string", code="ERR_TAG_INVALID")
        fields = _field_names(key.get("fields"))
        t = stats.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.ts, t.cnt, t.intervals, t.data)
                    .where(
                        t.key == "stat-1D",
                        t.type == key["type"],
                        t.tag == tag,
                        t.tz == offset,
                        t.ts >= first,
                        t.ts <= last,
                    )
                    .order_by(t.ts)
                )
            ).all()
        entries = [Entry(r[0], r[1], r[2], r[3]) for r in rows]
        ops = stat_ops(spec)
        wanted = {f: src for f in fields if (src := f.removesuffix("_aggr")) in ops} or {
            f"{name}_aggr": name for name in ops
        }
        if key.get("shouldReturnDailyData"):
            return [
                {
                    "ts": e.ts,
                    "val": {
                        **{f: e.data.get(src) for f, src in wanted.items()},
                        "aggrCount": e.cnt,
                        "aggrIntervals": e.intervals,
                    },
                }
                for e in entries
            ]
        merged = merge_entries(ops, entries, ratio_fields(spec)) if entries else {}
        return {
            **{f: merged.get(src) for f, src in wanted.items()},
            "aggrCount": sum(e.cnt for e in entries),
            "aggrIntervals": sum(e.intervals for e in entries),
        }

    def _spec_of(self, thing_type: Any) -> TypeSpec:
        if not isinstance(thing_type, str) or not thing_type:
            raise BadRequest("type is required", code="ERR_TYPE_INVALID")
        spec = self.spec.get(thing_type)
        if spec is None:
            raise BadRequest(
                f"no aggregation is configured for type {thing_type!r}",
                code="ERR_TYPE_AGGR_INVALID",
            )
        return spec


class _Query:
    """A checked tailLog request."""

    def __init__(self) -> None:
        self.type = ""
        self.spec: TypeSpec
        self.key = ""
        self.tag = ""
        self.tz = 0
        self.start: int | None = None
        self.end: int | None = None
        self.limit = DEFAULT_LIMIT
        self.offset = 0
        self.fields: list[str] = []
        self.aggr: list[str] | None = None
        self.group_ms: int | None = None
        self.cross = False

    @property
    def aggregating(self) -> bool:
        return self.aggr is not None

    @classmethod
    def parse(cls, req: dict[str, Any], history: History) -> _Query:
        q = cls()
        q.spec = history._spec_of(req.get("type"))
        q.type = req["type"]
        key = req.get("key", "stat-5m")
        if not isinstance(key, str) or not (
            key in LEVEL_MS or key in ("stat-rtd", "thing-5m") or key.startswith("thing-5m-")
        ):
            raise BadRequest(
                "key must be stat-5m, stat-30m, stat-3h, stat-1D, stat-rtd, thing-5m or "
                "thing-5m-<id>",
                code="ERR_KEY_INVALID",
            )
        q.key = key
        tag = req.get("tag") or f"t-{q.type}"
        if not isinstance(tag, str):
            raise BadRequest("tag must be a string", code="ERR_TAG_INVALID")
        q.tag = tag
        tz = req.get("timezoneOffset", 0)
        if isinstance(tz, bool) or not isinstance(tz, int) or tz not in history.offsets:
            raise BadRequest(
                f"timezoneOffset {tz!r} is not configured (aggrTailLogTimezones)",
                code="ERR_TIMEZONE_OFFSET_INVALID",
            )
        q.tz = tz if key == "stat-1D" else 0
        q.start = _opt_ms(req.get("start"), "ERR_START_DATE_INVALID", "start")
        q.end = _opt_ms(req.get("end"), "ERR_END_DATE_INVALID", "end")
        q.limit = _count(req.get("limit"), DEFAULT_LIMIT, "limit")
        q.offset = _count(req.get("offset"), 0, "offset")
        if q.limit > MAX_LIMIT:
            raise BadRequest(f"limit is at most {MAX_LIMIT}", code="ERR_LIMIT_INVALID")
        q.fields = _field_names(req.get("fields"))
        if req.get("aggrFields") is not None:
            q.aggr = _field_names(req.get("aggrFields"))
            q.group_ms = _group_range(req.get("groupRange"))
        q.cross = bool(req.get("applyAggrCrossthg"))
        return q

    def needed(self, ops: dict[str, str]) -> list[str] | None:
        """The stat fields this request reads (``None``: all of them)."""
        if self.aggr is not None:
            names = [f.removesuffix("_aggr") for f in self.aggr]
        elif self.fields:
            names = list(self.fields)
        else:
            return None
        wanted = [n for n in dict.fromkeys(names) if n in ops]
        for name in list(wanted):
            ratio = self.spec.stat[name]
            if ratio.op == "ratio":
                wanted += [n for n in (ratio.num, ratio.den) if n and n not in wanted]
        return wanted

    def project(self, e: Entry) -> Data:
        """A plain entry with the asked fields (all when none were asked)."""
        if not self.fields:
            # The entry's dict is ours (decoded for this request): no copy.
            e.data["ts"] = e.ts
            return e.data
        out: Data = {"ts": e.ts}
        out.update((f, e.data.get(f)) for f in self.fields if f != "ts")
        return out

    def shape(
        self, entries: list[Entry], ops: dict[str, str], ratios: dict[str, Any]
    ) -> list[Data]:
        """Newest-first entries → the response: plain, or merged per window."""
        entries.sort(key=lambda e: -e.ts)
        if self.aggr is None:
            if self.key.startswith("thing-5m"):
                entries = entries[self.offset : self.offset + self.limit]
            return [self.project(e) for e in entries]
        step = LEVEL_MS.get(self.key, STEP_MS)
        windows: dict[int, list[Entry]] = {}
        for e in entries:
            if self.group_ms is None:
                start = 0
            else:
                start = (e.ts + self.tz) // self.group_ms * self.group_ms - self.tz
            windows.setdefault(start, []).append(e)
        wanted = [f for f in self.aggr if f not in AUTO_FIELDS]
        sources = {f: f.removesuffix("_aggr") for f in wanted}
        sources = {f: s for f, s in sources.items() if s in ops}
        out = []
        for start, group in sorted(windows.items(), reverse=True):
            group.reverse()  # oldest first: "newest wins" fields take the last
            sub_ops = {s: ops[s] for s in sources.values()}
            sub_ratios = {s: ratios[s] for s in sources.values() if s in ratios}
            for r in sub_ratios.values():
                sub_ops.setdefault(r.num, ops[r.num])
                sub_ops.setdefault(r.den, ops[r.den])
            merged = merge_entries(sub_ops, group, sub_ratios)
            out.append(
                {
                    "ts": group[0].ts if self.group_ms is None else start,
                    **{f: merged.get(s) for f, s in sources.items()},
                    "aggrTsRange": f"{group[0].ts}-{group[-1].ts + step}",
                    "aggrCount": sum(e.cnt for e in group),
                    "aggrIntervals": sum(e.intervals for e in group),
                }
            )
        return out[self.offset : self.offset + self.limit]


# PostgreSQL takes at most 100 function arguments: two per projected field.
_MAX_PROJECTED = 40


def _data_column(names: list[str] | None) -> Any:
    """The entry's JSON with only ``names`` (all fields when ``None``).

    Projecting in SQL sends and decodes only what the request reads. ``data[name]`` is
    ``json_quote(json_extract(...))`` on SQLite (``data -> name`` on PostgreSQL). Names
    come from the spec, never from the request as such.
    """
    column = stats.c.data
    if names is None or len(names) > _MAX_PROJECTED:
        return cast(column, Text)
    args: list[Any] = []
    for name in names:
        args += [literal(name, Text), column[name]]
    return cast(_JsonObject(*args), Text)


class _JsonArrayAgg(FunctionElement[Any]):
    """PostgreSQL: a JSON array of ``[ts, cnt, intervals, data]`` per row, as text."""

    name = "json_array_agg"
    inherit_cache = True


@compiles(_JsonArrayAgg, "postgresql")
def _json_array_agg_pg(element: _JsonArrayAgg, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))::text"


class _JsonObject(FunctionElement[Any]):
    """``json_build_object`` on PostgreSQL, ``json_object`` on SQLite."""

    name = "json_object"
    inherit_cache = True


@compiles(_JsonObject, "postgresql")
def _json_object_pg(element: _JsonObject, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(_JsonObject)
def _json_object_default(element: _JsonObject, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


def _field_names(fields: Any) -> list[str]:
    if fields is None:
        return []
    if isinstance(fields, dict):
        return [str(k) for k, v in fields.items() if v]
    if isinstance(fields, list) and all(isinstance(f, str) for f in fields):
        return list(fields)
    raise BadRequest("fields must be an object of name: 1", code="ERR_FIELDS_INVALID")


def _opt_ms(value: Any, code: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{name} must be a timestamp in ms", code=code)
    return value


def _count(value: Any, default: int, name: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{name} must be a non-negative integer", code="ERR_LIMIT_INVALID")
    return value


def _group_range(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= STEP_MS:
        return value
    if isinstance(value, str) and (m := _RANGE_RE.match(value)):
        ms = int(m.group(1)) * _RANGE_UNIT[m.group(2)]
        if ms >= STEP_MS:
            return ms
    raise BadRequest(
        "groupRange must be like 30m, 1h, 1D, 1w or ms (at least 5 minutes)",
        code="ERR_GROUP_RANGE_INVALID",
    )


def _date_ms(value: Any, code: str) -> int:
    if not isinstance(value, str):
        raise BadRequest("dates are YYYY-MM-DD", code=code)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{value!r} is not a YYYY-MM-DD date", code=code) from exc
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
