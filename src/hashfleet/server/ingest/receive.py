"""Receive an agent's batch: check it, turn it into rows, hand it to the bus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import BadRequest
from hashfleet.model.checked import decode_checked
from hashfleet.model.snapshot import SnapshotView
from hashfleet.server.bus.base import Bus
from hashfleet.server.live.index import LiveIndex
from hashfleet.wire.messages import IngestAck, IngestBatch

MAX_ITEMS = 20_000
# An agent clock ahead of the server's by more than this is not believed: its snapshots are
# stamped with the server's time, so one wrong clock cannot keep things "fresh" for ever.
MAX_CLOCK_AHEAD_MS = 5 * 60_000


def validated_snapshot(raw: bytes) -> SnapshotView | None:
    """Check a snapshot's shape against the canonical model; it is read as a view.

    Raises :class:`BadRequest` on anything that is not a snapshot (or ``null``), so what
    reaches the store, the live index, the aggregates and the dashboard always has the
    types they rely on. One decode (:mod:`hashfleet.model.checked`): no dicts, nothing the
    garbage collector tracks; the result is the row's ``view``.
    """
    try:
        return decode_checked(raw)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"snap is not a snapshot: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest("snap is not valid JSON") from exc


Refresh = Callable[[list[str]], Awaitable[object]]


async def receive_batch(
    batch: IngestBatch,
    rack_id: str,
    live: LiveIndex,
    bus: Bus,
    refresh: Refresh | None = None,
) -> IngestAck:
    """Make ``batch`` durable and acknowledge it.

    Items for things that are not in the agent's rack (forgotten since they were polled,
    or another rack's) are acknowledged and dropped, so the agent's spool drains. With
    several servers, ``refresh`` first re-reads such things from the store: one registered
    on another server a moment ago may not have reached this one's live index yet, and
    dropping its snapshots would lose them.
    """
    if not batch.items:
        return IngestAck(acked_seq=0, stored=0, duplicates=0)
    if len(batch.items) > MAX_ITEMS:
        raise BadRequest(f"a batch holds at most {MAX_ITEMS} items")
    if not batch.spool_id or len(batch.spool_id) > 64:
        raise BadRequest("spool_id is required (at most 64 characters)")
    if refresh is not None:
        # Only things this server has never heard of: one known here in another rack was
        # moved (or is another rack's), and asking the store on every batch would not help.
        unknown = {item.thing_id for item in batch.items if item.thing_id not in live.things}
        if unknown:
            await refresh(sorted(unknown))
    # The row's view only where the bus hands these very rows to this process's writer
    # (the embedded bus); a bus that sends them elsewhere has its worker decode what it
    # needs.
    keep_views = getattr(bus, "delivers_rows", True)
    rows: list[dict[str, Any]] = []
    acked = 0
    latest_believable = now_ms() + MAX_CLOCK_AHEAD_MS
    for item in batch.items:
        acked = max(acked, item.seq)
        doc = live.things.get(item.thing_id)
        if doc is None or doc.get("rack") != rack_id:
            continue
        try:
            snap = validated_snapshot(item.snap)
        except BadRequest as exc:
            raise BadRequest(f"item {item.seq}: {exc.message}") from exc
        rows.append(
            {
                "spool_id": batch.spool_id,
                "seq": item.seq,
                "thing_id": item.thing_id,
                "rack_id": rack_id,
                "ts": min(item.ts, latest_believable),
                "err": item.err,
                # Raw JSON goes to the database (and the bus) as received.
                "snap": None if snap is None else item.snap,
            }
        )
        if keep_views:
            rows[-1]["view"] = snap
    new = await bus.publish(rows) if rows else 0
    return IngestAck(acked_seq=acked, stored=new, duplicates=len(rows) - new)
