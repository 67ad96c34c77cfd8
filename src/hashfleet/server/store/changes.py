"""The change log of things: who registered, updated or forgot a thing, and what changed.

Rows are kept for ever (no retention task touches ``thing_changes``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashfleet.server.live.packed import unpack
from hashfleet.server.store.tables import thing_changes

REGISTER = "register"
UPDATE = "update"
FORGET = "forget"
ACTIONS = (REGISTER, UPDATE, FORGET)

# The parts of a thing document whose changes are logged.
DIFF_FIELDS = ("info", "opts")
# A value under a key named like a secret is logged as changed, never in clear: the log is
# kept for ever and any reader of history may read it.
_SECRET_KEY = re.compile(r"pass(word|wd)?$|secret|token|api_?key|private", re.IGNORECASE)
REDACTED = "***"


def _is_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _redact(value: Any) -> Any:
    """``value`` with every secret-named entry, however deep, replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _is_secret(str(k)) and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _diff_values(path: str, old: Any, new: Any, out: dict[str, Any]) -> None:
    if old == new:
        return
    if _is_secret(path.rsplit(".", 1)[-1]):
        # Keep whether a secret was set or cleared; hide what it was.
        out[path] = [None if old is None else REDACTED, None if new is None else REDACTED]
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _diff_values(f"{path}.{key}", old.get(key), new.get(key), out)
    else:
        out[path] = [_redact(old), _redact(new)]


def thing_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two thing documents (an empty one for register or forget).

    ``{"info.pos": [old, new], "opts.address": [old, new], "tags": {"added": [...],
    "removed": [...]}}``: dotted paths into nested objects; a missing value is ``null``;
    arrays are compared whole. Secret-named values show only as ``***``. Empty when nothing
    changed.
    """
    out: dict[str, Any] = {}
    for field in DIFF_FIELDS:
        _diff_values(field, unpack(before.get(field)) or {}, unpack(after.get(field)) or {}, out)
    old_tags = list(before.get("tags") or [])
    new_tags = list(after.get("tags") or [])
    added = [t for t in new_tags if t not in old_tags]
    removed = [t for t in old_tags if t not in new_tags]
    if added or removed:
        out["tags"] = {"added": added, "removed": removed}
    return out


def change_row(
    thing_id: str,
    ts: int,
    action: str,
    diff: dict[str, Any],
    user: str | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """A ``thing_changes`` row ready for :func:`insert_changes`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown change action {action!r}")
    return {
        "thing_id": thing_id,
        "ts": ts,
        "user": user,
        "action": action,
        "diff": diff,
        "comment": comment,
    }


async def add_changes(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Store change rows (from :func:`change_row`) in the caller's transaction, so a thing
    write and its change-log rows commit together or not at all."""
    for start in range(0, len(rows), 500):
        await conn.execute(thing_changes.insert(), list(rows[start : start + 500]))


async def insert_changes(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    """Store change rows (from :func:`change_row`) in one transaction."""
    if not rows:
        return
    async with engine.begin() as conn:
        await add_changes(conn, rows)


def _conds(
    start: int | None, end: int | None, thing_ids: list[str] | None
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if start is not None:
        conds.append(thing_changes.c.ts >= start)
    if end is not None:
        conds.append(thing_changes.c.ts <= end)
    if thing_ids is not None:
        conds.append(thing_changes.c.thing_id.in_(thing_ids))
    return conds


def _entry(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "thingId": m["thing_id"],
        "ts": m["ts"],
        "user": m["user"],
        "action": m["action"],
        "diff": m["diff"],
        "comment": m["comment"],
    }


async def list_changes(
    engine: AsyncEngine,
    *,
    start: int | None = None,
    end: int | None = None,
    thing_ids: list[str] | None = None,
    offset: int = 0,
    limit: int = 100,
    newest_first: bool = True,
) -> list[dict[str, Any]]:
    """Changes in ``[start, end]`` (ms, inclusive), newest first unless asked otherwise.

    Entries are ``{id, thingId, ts, user, action, diff, comment}``.
    """
    # The id breaks ties between changes of the same millisecond in write order.
    order = (
        (thing_changes.c.ts.desc(), thing_changes.c.id.desc())
        if newest_first
        else (thing_changes.c.ts.asc(), thing_changes.c.id.asc())
    )
    stmt = select(thing_changes).order_by(*order).offset(offset).limit(limit)
    conds = _conds(start, end, thing_ids)
    if conds:
        stmt = stmt.where(and_(*conds))
    async with engine.connect() as conn:
        return [_entry(r) for r in await conn.execute(stmt)]


async def count_changes(
    engine: AsyncEngine,
    *,
    start: int | None = None,
    end: int | None = None,
    thing_ids: list[str] | None = None,
) -> int:
    """How many changes :func:`list_changes` would list without offset and limit."""
    stmt = select(func.count()).select_from(thing_changes)
    conds = _conds(start, end, thing_ids)
    if conds:
        stmt = stmt.where(and_(*conds))
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())
