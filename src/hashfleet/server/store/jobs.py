"""The agents' job queue (table ``agent_jobs``): one row per (action, thing).

States: ``queued`` → ``offered`` (handed to the rack's agent; offered again after a while
if no result came, the agent's journal makes that harmless) → ``done`` or ``failed``. The
first result of a job wins; later ones change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.store.snapshots import dialect_insert
from hashfleet.server.store.tables import agent_jobs

QUEUED = "queued"
OFFERED = "offered"
DONE = "done"
FAILED = "failed"
OPEN_STATES = (QUEUED, OFFERED)


async def enqueue_jobs(engine: AsyncEngine, jobs: Sequence[dict[str, Any]], now: int) -> None:
    """Queue ``{rack_id, action_id, thing_id, method, params}`` rows; a job already queued
    for the same (action, thing) is kept as it is (so queuing an action twice is harmless)."""
    if not jobs:
        return
    rows = [
        {**job, "state": QUEUED, "attempts": 0, "created_at": now, "updated_at": now}
        for job in jobs
    ]
    stmt = dialect_insert(engine, agent_jobs).on_conflict_do_nothing(
        index_elements=["action_id", "thing_id"]
    )
    async with engine.begin() as conn:
        await conn.execute(stmt, rows)


async def offer_jobs(
    engine: AsyncEngine, rack_id: str, now: int, reoffer_after_ms: int, limit: int
) -> list[dict[str, Any]]:
    """Jobs of ``rack_id`` to hand out now: queued ones, and offered ones whose result has
    not come within ``reoffer_after_ms``; they become ``offered``, oldest first."""
    due = or_(
        agent_jobs.c.state == QUEUED,
        and_(agent_jobs.c.state == OFFERED, agent_jobs.c.updated_at <= now - reoffer_after_ms),
    )
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(agent_jobs)
                .where(agent_jobs.c.rack_id == rack_id, due)
                .order_by(agent_jobs.c.id)
                .limit(limit)
            )
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        await conn.execute(
            update(agent_jobs)
            .where(agent_jobs.c.id.in_(ids))
            .values(state=OFFERED, attempts=agent_jobs.c.attempts + 1, updated_at=now)
        )
    return [dict(r._mapping) for r in rows]


async def finish_job(
    engine: AsyncEngine,
    job_id: int,
    rack_id: str | None,
    state: str,
    result: Any,
    error: str | None,
    now: int,
) -> dict[str, Any] | None:
    """Record the end of a job if it is still open (and, given ``rack_id``, that rack's);
    returns the finished row, or ``None`` when it was already finished or is unknown."""
    rows = await finish_jobs(engine, [(job_id, rack_id, state, result, error)], now)
    return rows[0] if rows else None


async def finish_jobs(
    engine: AsyncEngine,
    ends: Sequence[tuple[int, str | None, str, Any, str | None]],
    now: int,
) -> list[dict[str, Any]]:
    """:func:`finish_job` for many ``(id, rack_id, state, result, error)`` in one
    transaction; returns the rows that this call finished."""
    finished: list[int] = []
    async with engine.begin() as conn:
        for job_id, rack_id, state, result, error in ends:
            conds = [agent_jobs.c.id == job_id, agent_jobs.c.state.in_(OPEN_STATES)]
            if rack_id is not None:
                conds.append(agent_jobs.c.rack_id == rack_id)
            changed = await conn.execute(
                update(agent_jobs)
                .where(*conds)
                .values(state=state, result=result, error=error, updated_at=now)
            )
            if changed.rowcount:
                finished.append(job_id)
        rows: list[Any] = []
        for start in range(0, len(finished), 500):
            chunk = finished[start : start + 500]
            rows += (await conn.execute(select(agent_jobs).where(agent_jobs.c.id.in_(chunk)))).all()
    return [dict(r._mapping) for r in rows]


async def stale_jobs(engine: AsyncEngine, created_before: int) -> list[dict[str, Any]]:
    """Open jobs created before ``created_before`` (ms)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(agent_jobs).where(
                agent_jobs.c.state.in_(OPEN_STATES), agent_jobs.c.created_at < created_before
            )
        )
        return [dict(r._mapping) for r in rows]


async def jobs_of_action(engine: AsyncEngine, action_id: int) -> list[dict[str, Any]]:
    """Every job of one action, by thing."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(agent_jobs).where(agent_jobs.c.action_id == action_id).order_by(agent_jobs.c.id)
        )
        return [dict(r._mapping) for r in rows]


async def open_job_count(engine: AsyncEngine) -> int:
    """Jobs queued or offered, over every rack."""
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(agent_jobs)
        result = await conn.execute(stmt.where(agent_jobs.c.state.in_(OPEN_STATES)))
        return int(result.scalar_one())


async def racks_with_open_jobs(engine: AsyncEngine, rack_id: str | None = None) -> set[str]:
    """The racks (or just ``rack_id``, if it has any) with jobs queued or offered."""
    stmt = select(agent_jobs.c.rack_id).where(agent_jobs.c.state.in_(OPEN_STATES))
    if rack_id is not None:
        stmt = stmt.where(agent_jobs.c.rack_id == rack_id)
    async with engine.connect() as conn:
        return {r[0] for r in await conn.execute(stmt.distinct())}


async def lowest_action_id(engine: AsyncEngine) -> int:
    """The lowest action id of any job (direct calls use ids below 0), 0 when none."""
    async with engine.connect() as conn:
        value = (await conn.execute(select(func.min(agent_jobs.c.action_id)))).scalar_one()
        return int(value or 0)
