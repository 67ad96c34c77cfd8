"""Approval-voted actions: one row per action, the whole document in ``doc``.

``state``, ``created_at`` and ``batch_uid`` are copied out of the document so that
queryActions and batch look-ups use the indexes ``(state, created_at)`` and ``batch_uid``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from hashfleet.server.store.tables import actions

# One SQL parameter per id: stays far below SQLite's and PostgreSQL's parameter limits.
_IDS_PER_QUERY = 500


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "batch_uid": doc.get("batchActionUID"),
        "action": doc["action"],
        "state": doc["state"],
        "creator": doc["creator"],
        "created_at": doc["createdAt"],
        "updated_at": doc["updatedAt"],
        "doc": doc,
    }


def _doc(row: Any) -> dict[str, Any]:
    doc: dict[str, Any] = dict(row._mapping["doc"])
    # The columns are what queries selected on; the document must agree with them.
    doc["state"] = row._mapping["state"]
    return doc


async def insert_actions(engine: AsyncEngine, docs: Sequence[dict[str, Any]]) -> None:
    """Store new actions in one transaction."""
    if not docs:
        return
    async with engine.begin() as conn:
        await conn.execute(actions.insert(), [_row(d) for d in docs])


async def update_actions(engine: AsyncEngine, docs: Sequence[dict[str, Any]]) -> None:
    """Write the new state and document of existing actions in one transaction."""
    if not docs:
        return
    async with engine.begin() as conn:
        for doc in docs:
            await conn.execute(
                update(actions)
                .where(actions.c.id == doc["id"])
                .values(state=doc["state"], updated_at=doc["updatedAt"], doc=doc)
            )


async def update_action_if(engine: AsyncEngine, doc: dict[str, Any], seen_updated_at: int) -> bool:
    """Write an action's new state only if it is still the version read (its ``updatedAt``
    is ``seen_updated_at``); False, nothing written, when it changed meanwhile (another
    server sharing the store moved it on)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(actions)
            .where(actions.c.id == doc["id"], actions.c.updated_at == seen_updated_at)
            .values(state=doc["state"], updated_at=doc["updatedAt"], doc=doc)
        )
    return bool(result.rowcount == 1)


async def get_action(engine: AsyncEngine, action_id: int) -> dict[str, Any] | None:
    """One action, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(actions).where(actions.c.id == action_id))).first()
    return None if row is None else _doc(row)


async def get_actions(engine: AsyncEngine, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The actions among ``ids`` that exist, by id."""
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    async with engine.connect() as conn:
        for i in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[i : i + _IDS_PER_QUERY]
            for row in await conn.execute(select(actions).where(actions.c.id.in_(chunk))):
                out[int(row._mapping["id"])] = _doc(row)
    return out


async def query_actions(
    engine: AsyncEngine,
    state: str,
    bounds: Mapping[str, int] | None = None,
    *,
    limit: int = 100,
    before: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Actions in ``state`` created inside the bounds, newest first, at most ``limit``.

    ``bounds`` holds ``gt``, ``gte``, ``lt``, ``lte`` (ms, on the creation time).

    ``before`` = ``(created_at, id)`` of the last action of a previous page (keyset paging:
    the next page starts strictly after it).
    """
    conds: list[ColumnElement[bool]] = [actions.c.state == state]
    col = actions.c.created_at
    b = bounds or {}
    if "gt" in b:
        conds.append(col > b["gt"])
    if "gte" in b:
        conds.append(col >= b["gte"])
    if "lt" in b:
        conds.append(col < b["lt"])
    if "lte" in b:
        conds.append(col <= b["lte"])
    if before is not None:
        ts, action_id = before
        conds.append((col < ts) | and_(col == ts, actions.c.id < action_id))
    stmt = (
        select(actions)
        .where(and_(*conds))
        .order_by(actions.c.created_at.desc(), actions.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [_doc(row) for row in await conn.execute(stmt)]


async def actions_of_batch(engine: AsyncEngine, batch_uid: str) -> list[dict[str, Any]]:
    """Every action of one batch (``{timestamp}-{uid}``), oldest first."""
    stmt = select(actions).where(actions.c.batch_uid == batch_uid).order_by(actions.c.id)
    async with engine.connect() as conn:
        return [_doc(row) for row in await conn.execute(stmt)]


async def open_actions(engine: AsyncEngine, states: Sequence[str]) -> list[dict[str, Any]]:
    """Every action in one of ``states`` (the service's in-memory set at start), oldest first."""
    stmt = select(actions).where(actions.c.state.in_(list(states))).order_by(actions.c.id)
    async with engine.connect() as conn:
        return [_doc(row) for row in await conn.execute(stmt)]


async def max_action_id(engine: AsyncEngine) -> int:
    """The highest action id ever stored (0 when none), so ids are never reused."""
    async with engine.connect() as conn:
        value = (await conn.execute(select(func.max(actions.c.id)))).scalar()
    return int(value or 0)
