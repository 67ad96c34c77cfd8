"""Rollups built incrementally on ingest.

Each stored snapshot is folded into its thing's running 5-minute bucket (in memory). Once a
bucket is past (plus a grace period for stragglers) it is flushed in one transaction:
the per-thing ``thing-5m`` entries, the per type-and-tag ``stat-5m`` entries, and the
coarser levels containing it — ``stat-30m`` from 5-minute entries, ``stat-3h`` from 30-minute
ones, and ``stat-1D`` once per configured timezone from the coarsest level aligned with
its midnight. A snapshot arriving for a bucket already flushed (an agent's spool draining
after an outage) is merged into the stored entries and its bucket recomputed, so history
ends up the same whatever order snapshots came in. The flushed-through mark is stored with
each flush; after a restart the unflushed buckets are rebuilt from the stored snapshots.

Several servers on one store: every server folds every new snapshot (its own workers'
rows and, by the "rows written" notification, everybody else's), but only the leader
flushes (``leading``). A follower drops the buckets the leader has flushed (those below
the stored flushed-through mark) and its late rows, and keeps the open ones: when it
takes over it holds the same open buckets as the leader did and flushes them, so each
snapshot is counted once and a failover loses no bucket. Two flushers instead of one
would each merge late rows into the stored entries, counting them twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.ingest.rows import full_doc
from hashfleet.server.leader import Fence, no_fence
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.series.ops import (
    Entry,
    ThingAcc,
    extract,
    merge_entries,
    merge_thing,
    ratio_fields,
    stat_entry,
    stat_ops,
)
from hashfleet.server.series.spec import StatSpec
from hashfleet.server.store.series import (
    StatKey,
    stat_entries_between,
    thing_entries_at,
    upsert_stat_entries,
    upsert_thing_entries,
)
from hashfleet.server.store.snapshots import dialect_insert
from hashfleet.server.store.tables import kv, snapshots
from hashfleet.wire.codec import json_loads

log = logging.getLogger(__name__)

STEP_MS = 300_000
DAY_MS = 86_400_000
# Coarse levels and the finer level each is built from.
LEVELS: tuple[tuple[str, int, str], ...] = (
    ("stat-30m", 1_800_000, "stat-5m"),
    ("stat-3h", 10_800_000, "stat-30m"),
)
LEVEL_MS = {"stat-5m": STEP_MS, "stat-30m": 1_800_000, "stat-3h": 10_800_000, "stat-1D": DAY_MS}
CLOSED_KEY = "rollup_closed_until"
# How long after a takeover's rebuild the rows it folded are told apart from notices.
REBUILD_DEDUPE_MS = 60_000
# Tags naming a single thing: its history is the thing-5m log, not a tag rollup.
_PER_THING_TAGS = ("id-", "code-")

AlertsOf = Callable[[str], Iterable[str]]


def bucket_of(ts: int) -> int:
    """The start of the 5-minute bucket holding ``ts``."""
    return ts - ts % STEP_MS


def day_start(ts: int, offset: int) -> int:
    """The UTC ms of the local midnight (at ``offset``) starting the day holding ``ts``."""
    return (ts + offset) // DAY_MS * DAY_MS - offset


def rollup_tags(doc: dict[str, Any]) -> list[str]:
    """The tags a thing's type-and-tag rollups are kept under."""
    return [
        t for t in doc.get("tags") or [] if isinstance(t, str) and not t.startswith(_PER_THING_TAGS)
    ]


class Rollup:
    """Keeps thing-5m and stat-* logs up to date as snapshots are stored."""

    def __init__(
        self,
        engine: AsyncEngine,
        live: LiveIndex,
        spec: StatSpec,
        offsets: list[int],
        alerts_of: AlertsOf | None = None,
        grace_ms: int = 30_000,
        flush_every_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.live = live
        self.spec = spec
        self.offsets = offsets
        self.alerts_of = alerts_of
        self.grace_ms = grace_ms
        self.flush_every_s = flush_every_s
        self.closed_until = 0
        self._open: dict[int, dict[str, ThingAcc]] = {}
        self._late: dict[int, dict[str, ThingAcc]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.buckets_flushed = 0
        self.leading = True
        # Taken in each flush's transaction (state.py: the leader's fence with several
        # servers): a server no longer leading merges nothing into the stored buckets.
        self.fence: Fence = no_fence
        # A takeover's rebuild from the store (see lead): keys of the rows it folded, and
        # of the rows observed while it ran, so that none is folded twice.
        self._rebuilt: set[tuple[str, int]] | None = None
        self._observed: set[tuple[str, int]] | None = None
        self._dedupe_until = 0  # ms: the keys are dropped at the first flush after this

    # -- ingest ---------------------------------------------------------------------------

    def observe(self, rows: Iterable[dict[str, Any]]) -> None:
        """Fold newly stored snapshot rows into their buckets."""
        if self._rebuilt is not None and self._observed is not None:
            rows = [r for r in rows if not self._already_rebuilt(r)]
        self._fold(rows)

    def _already_rebuilt(self, row: dict[str, Any]) -> bool:
        spool_id, seq = row.get("spool_id"), row.get("seq")
        if spool_id is None or seq is None or self._rebuilt is None or self._observed is None:
            return False
        key = (str(spool_id), int(seq))
        if key in self._rebuilt:
            return True
        self._observed.add(key)
        return False

    def _fold(self, rows: Iterable[dict[str, Any]]) -> None:
        things = self.live.things
        specs = self.spec.types
        closed_until = self.closed_until
        for row in rows:
            thing_id = row["thing_id"]
            doc = things.get(thing_id)
            if doc is None:
                continue
            spec = specs.get(str(doc.get("type")))
            if spec is None:
                continue
            ts = int(row["ts"])
            bucket = ts - ts % STEP_MS
            target = self._open if bucket >= closed_until else self._late
            accs = target.get(bucket)
            if accs is None:
                accs = target[bucket] = {}
            acc = accs.get(thing_id)
            if acc is None:
                acc = accs[thing_id] = ThingAcc()
            if "view" in row:
                if acc.add_view(spec, ts, thing_id, row["view"], row.get("err")):
                    continue
                snap = full_doc(row)  # the spec reads fields the view does not have
            else:
                snap = row["doc"] if "doc" in row else row.get("snap")
            acc.add(spec, ts, extract(spec, thing_id, snap, row.get("err")))

    # -- lifecycle ------------------------------------------------------------------------

    async def load(self, now: int | None = None) -> None:
        """Read the flushed-through mark and rebuild unflushed buckets from stored snapshots."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(kv.c.value).where(kv.c.key == CLOSED_KEY))).first()
        now = now_ms() if now is None else now
        if row is None:
            # A new store: history starts with the current bucket.
            self.closed_until = bucket_of(now)
            return
        self.closed_until = int(row[0])
        await self._rebuild()

    async def _rebuild(self) -> None:
        stmt = (
            select(
                snapshots.c.spool_id,
                snapshots.c.seq,
                snapshots.c.thing_id,
                snapshots.c.ts,
                snapshots.c.err,
                snapshots.c.snap,
            )
            .where(snapshots.c.ts >= self.closed_until)
            .execution_options(yield_per=5000)
        )
        count = 0
        async with self.engine.connect() as conn:
            result = await conn.stream(stmt)
            async for spool_id, seq, thing_id, ts, err, snap in result:
                if self._rebuilt is not None and self._observed is not None:
                    key = (str(spool_id), int(seq))
                    if key in self._observed:
                        continue  # folded already: its notice came while the rebuild ran
                    self._rebuilt.add(key)
                if isinstance(snap, (str, bytes)):
                    snap = json_loads(snap)
                self._fold([{"thing_id": thing_id, "ts": ts, "err": err, "snap": snap}])
                count += 1
        if count:
            log.info("rollups: rebuilt unflushed buckets from %d stored snapshots", count)

    def start(self) -> None:
        """Flush closed buckets periodically."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="rollup-flush")

    async def stop(self) -> None:
        """Flush what is due, stop; open buckets are rebuilt from the store at next start."""
        if self._task is None:
            return
        await cancel_task(self._task)
        self._task = None
        if not self.leading:
            return
        try:
            await self.flush()
        except Exception:  # stopping must finish; the raw snapshots are stored
            log.exception("final rollup flush failed")

    async def _run(self) -> None:
        await run_every(self.flush_every_s, self._tick, "rollup flush")

    async def _tick(self) -> None:
        if self.leading:
            await self.flush()
        else:
            await self.trim()

    # -- several servers ------------------------------------------------------------------

    async def _stored_mark(self) -> int | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(kv.c.value).where(kv.c.key == CLOSED_KEY))).first()
        return None if row is None else int(row[0])

    async def trim(self) -> int:
        """A follower's tick: drop buckets the leader flushed, and late rows; how many."""
        mark = await self._stored_mark()
        async with self._lock:
            if mark is not None and mark > self.closed_until:
                self.closed_until = mark
            done = [b for b in self._open if b < self.closed_until]
            for bucket in done:
                del self._open[bucket]
            dropped = len(done) + len(self._late)
            self._late.clear()  # the leader merges late rows into what it flushed
            return dropped

    async def lead(self) -> None:
        """Take over flushing: the open buckets are rebuilt from the store.

        What this server folded as a follower may lack rows whose notice it missed (notices
        are at most once) or that were committed between its start-up rebuild and its
        subscription; flushing that would undercount for good. Rows observed while the
        rebuild runs, and notices of rebuilt rows that come after it, are folded once: both
        sides are told apart by ``(spool_id, seq)`` until the open buckets are flushed.
        """
        mark = await self._stored_mark()
        async with self._lock:
            if mark is not None and mark > self.closed_until:
                self.closed_until = mark
            self._open.clear()
            self._late.clear()  # the old leader merged those, or they are in the rebuild
            self._rebuilt, self._observed = set(), set()
            try:
                await self._rebuild()
            except Exception:
                self._rebuilt = self._observed = None
                raise
            if not self._rebuilt:
                # Nothing was rebuilt, so no notice can repeat a rebuilt row.
                self._rebuilt = self._observed = None
            # A notice comes within seconds of its commit (3 s seen under load): a minute
            # of keys is plenty, and costs ~100 bytes a row of one or two buckets.
            self._dedupe_until = now_ms() + REBUILD_DEDUPE_MS
        self.leading = True

    def follow(self) -> None:
        """Stop flushing (another server leads); open buckets are kept for a takeover."""
        self.leading = False

    # -- flush ----------------------------------------------------------------------------

    async def flush(self, now: int | None = None) -> int:
        """Write every bucket that is over (and every late one); returns how many."""
        async with self._lock:
            now = now_ms() if now is None else now
            if self._rebuilt is not None and now_ms() > self._dedupe_until:
                self._rebuilt = self._observed = None
            limit = bucket_of(now - self.grace_ms)
            due = sorted(b for b in self._open if b + STEP_MS <= limit)
            late = sorted(self._late)
            if limit > self.closed_until:
                self.closed_until = limit
            # The mark stored with each bucket never passes a bucket not yet written, so a
            # crash mid-flush rebuilds exactly what is missing.
            marks = [*due[1:], self.closed_until] if due else []
            work = [(b, self._open.pop(b), m, False) for b, m in zip(due, marks, strict=True)]
            work += [(b, self._late.pop(b), self.closed_until, True) for b in late]
            done = 0
            for bucket, accs, mark, is_late in work:
                try:
                    await self._write_bucket(bucket, accs, is_late, mark)
                except Exception:
                    # Keep the data: it is retried as a late bucket (merged with what is
                    # stored, which a failed transaction left untouched).
                    kept = self._late.setdefault(bucket, {})
                    for thing_id, acc in accs.items():
                        doc = self.live.things.get(thing_id)
                        spec = self.spec.get(str(doc.get("type"))) if doc else None
                        if spec is not None and thing_id in kept:
                            acc.absorb(spec, kept[thing_id])
                        kept[thing_id] = acc
                    raise
                done += 1
            if not work and self.closed_until:
                await self._save_mark()
            self.buckets_flushed += done
            return done

    async def _save_mark(self) -> None:
        async with self.engine.begin() as conn:
            await self.fence(conn)
            await self._mark(conn, self.closed_until)

    async def _mark(self, conn: AsyncConnection, mark: int) -> None:
        stmt = dialect_insert(self.engine, kv).values(key=CLOSED_KEY, value=mark)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": stmt.excluded.value}
        )
        await conn.execute(stmt)

    async def _write_bucket(
        self, bucket: int, accs: dict[str, ThingAcc], late: bool, mark: int
    ) -> None:
        entries: dict[str, Entry] = {}
        for thing_id, acc in accs.items():
            doc = self.live.things.get(thing_id)
            spec = self.spec.get(str(doc.get("type"))) if doc else None
            if spec is not None:
                entries[thing_id] = Entry(bucket, acc.cnt, 1, acc.result(spec))
        async with self.engine.begin() as conn:
            await self.fence(conn)
            if late:
                stored = await thing_entries_at(conn, bucket, list(entries))
                for thing_id, old in stored.items():
                    doc = self.live.things[thing_id]
                    spec = self.spec.get(str(doc.get("type")))
                    if spec is not None:
                        entries[thing_id] = merge_thing(spec, old, entries[thing_id])
            await upsert_thing_entries(self.engine, conn, entries)
            every = await thing_entries_at(conn, bucket) if late else entries
            await upsert_stat_entries(
                self.engine, conn, "stat-5m", 0, self._tag_entries(bucket, every)
            )
            await self._roll_up(conn, bucket)
            await self._mark(conn, mark)

    def _tag_entries(self, bucket: int, entries: dict[str, Entry]) -> dict[StatKey, Entry]:
        groups: dict[StatKey, list[str]] = {}
        for thing_id in entries:
            doc = self.live.things.get(thing_id)
            if doc is None:
                continue
            for tag in rollup_tags(doc):
                groups.setdefault((str(doc["type"]), tag), []).append(thing_id)
        out: dict[StatKey, Entry] = {}
        for (thing_type, tag), ids in groups.items():
            spec = self.spec.get(thing_type)
            if spec is None:
                continue
            ids.sort()
            alerts: Counter[str] = Counter()
            if self.alerts_of is not None:
                for thing_id in ids:
                    alerts.update(self.alerts_of(thing_id))
            things = [entries[i].data for i in ids]
            data = stat_entry(spec, things, ids, alerts)
            cnt = sum(entries[i].cnt for i in ids)
            out[(thing_type, tag)] = Entry(bucket, cnt, 1, data)
        return out

    async def _roll_up(self, conn: AsyncConnection, bucket: int) -> None:
        for key, size, finer in LEVELS:
            start = bucket - bucket % size
            await self._merge_level(conn, key, 0, start, size, finer)
        for offset in self.offsets:
            start = day_start(bucket, offset)
            # The coarsest level whose buckets fall on this timezone's midnights.
            finer = next((k for k, size, _ in reversed(LEVELS) if offset % size == 0), "stat-5m")
            await self._merge_level(conn, "stat-1D", offset, start, DAY_MS, finer)

    async def _merge_level(
        self, conn: AsyncConnection, key: str, tz: int, start: int, size: int, finer: str
    ) -> None:
        parts = await stat_entries_between(conn, finer, 0, start, start + size)
        out: dict[StatKey, Entry] = {}
        for (thing_type, tag), entries in parts.items():
            spec = self.spec.get(thing_type)
            if spec is None:
                continue
            data = merge_entries(stat_ops(spec), entries, ratio_fields(spec))
            cnt = sum(e.cnt for e in entries)
            intervals = sum(e.intervals for e in entries)
            out[(thing_type, tag)] = Entry(start, cnt, intervals, data)
        await upsert_stat_entries(self.engine, conn, key, tz, out)
