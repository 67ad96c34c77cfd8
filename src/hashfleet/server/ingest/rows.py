"""What a snapshot row carries past ingest, and the decoded snapshot when a reader needs it.

A row on the ingest path has ``snap`` (the agent's JSON, kept raw, or ``None``) and
``view``: its hot values (:class:`~hashfleet.model.snapshot.SnapshotView`, or on the
embedded bus the :mod:`~hashfleet.model.checked` snapshot receive decoded, which reads the
same way), ``None`` when the poll failed. The live index, the alert rules and the rollups
read the view; the rare reader that needs every field (an alert rule about to fire) asks
:func:`full_doc`.
Rows without a ``view`` (tests, the rollups' rebuild from the store) carry the decoded
snapshot as a dict in ``doc`` or ``snap``, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from hashfleet.model.snapshot import Snapshot

_snapshot_decoder = msgspec.json.Decoder(Snapshot)


def full_doc(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row's snapshot as the model's dict (every field; ``None`` when the poll failed
    or its JSON is no snapshot)."""
    doc = row.get("doc")
    if isinstance(doc, dict):
        return doc
    raw = row.get("snap")
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, (bytes, str, msgspec.Raw)):
        return None
    try:
        snap = _snapshot_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return None if snap is None else snap.to_dict()


_NULLS = (b"null", "null", msgspec.Raw(b"null"))


def deciding_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a commit that decide the live index's state, in their order.

    The index takes each thing's rows in order and skips one older than what it holds, so
    what a thing ends with is its last row of the greatest ``ts`` (put last in arrival
    order where that row stands): applying only those rows leaves the index as applying
    them all would, with a fraction of the work when an agent's batch holds several polls
    of a thing (a spool draining). A thing whose deciding row is a failed poll keeps all
    its rows: that state is built from the snapshot before it.
    """
    pick: dict[str, int] = {}
    best: dict[str, int] = {}
    for i, row in enumerate(rows):
        thing_id = row["thing_id"]
        ts = int(row["ts"])
        was = best.get(thing_id)
        if was is None or ts >= was:
            best[thing_id] = ts
            pick[thing_id] = i
    if len(pick) == len(rows):
        return rows
    failed = {
        thing_id
        for thing_id, i in pick.items()
        if rows[i].get("doc") is None and (rows[i].get("snap") is None or rows[i]["snap"] in _NULLS)
    }
    keep = set(pick.values())
    return [r for i, r in enumerate(rows) if i in keep or r["thing_id"] in failed]
