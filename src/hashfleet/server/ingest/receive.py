"""Receive an agent's batch: check it, turn it into rows, hand it to the bus."""

from __future__ import annotations

from typing import Any

import msgspec

from hashfleet.core.errors import BadRequest
from hashfleet.server.bus.base import Bus
from hashfleet.server.live.index import LiveIndex
from hashfleet.wire.codec import json_loads
from hashfleet.wire.messages import IngestAck, IngestBatch

MAX_ITEMS = 20_000


async def receive_batch(batch: IngestBatch, rack_id: str, live: LiveIndex, bus: Bus) -> IngestAck:
    """Make ``batch`` durable and acknowledge it.

    Items for things that are not in the agent's rack (forgotten since they were polled,
    or another rack's) are acknowledged and dropped, so the agent's spool drains.
    """
    if not batch.items:
        return IngestAck(acked_seq=0, stored=0, duplicates=0)
    if len(batch.items) > MAX_ITEMS:
        raise BadRequest(f"a batch holds at most {MAX_ITEMS} items")
    if not batch.spool_id or len(batch.spool_id) > 64:
        raise BadRequest("spool_id is required (at most 64 characters)")
    rows: list[dict[str, Any]] = []
    acked = 0
    for item in batch.items:
        acked = max(acked, item.seq)
        doc = live.things.get(item.thing_id)
        if doc is None or doc.get("rack") != rack_id:
            continue
        try:
            snap = json_loads(item.snap)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"item {item.seq}: snap is not valid JSON") from exc
        if snap is not None and not isinstance(snap, dict):
            raise BadRequest(f"item {item.seq}: snap must be an object or null")
        rows.append(
            {
                "spool_id": batch.spool_id,
                "seq": item.seq,
                "thing_id": item.thing_id,
                "rack_id": rack_id,
                "ts": item.ts,
                "err": item.err,
                # Raw JSON goes to the database as received; the decoded doc to the index.
                "snap": None if snap is None else item.snap,
                "doc": snap,
            }
        )
    new = await bus.publish(rows) if rows else 0
    return IngestAck(acked_seq=acked, stored=new, duplicates=len(rows) - new)
