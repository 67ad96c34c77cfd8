"""Alert persistence: open alerts and their history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashfleet.model.alert import Alert
from hashfleet.server.store.tables import alerts


def _row(alert: Alert) -> dict[str, Any]:
    return alert.to_dict()


async def insert_alerts(engine: AsyncEngine, new: list[Alert]) -> None:
    """Store newly opened alerts."""
    if new:
        async with engine.begin() as conn:
            await conn.execute(alerts.insert(), [_row(a) for a in new])


async def touch_alerts(engine: AsyncEngine, changed: list[Alert]) -> None:
    """Store the new severity, description, data and ``updated_at`` of open alerts."""
    if not changed:
        return
    async with engine.begin() as conn:
        for a in changed:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == a.id)
                .values(
                    severity=a.severity,
                    name=a.name,
                    description=a.description,
                    updated_at=a.updated_at,
                    data=a.data,
                )
            )


async def close_alerts(engine: AsyncEngine, ids: list[str], closed_at: int) -> None:
    """Move alerts to history."""
    if not ids:
        return
    async with engine.begin() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(chunk), alerts.c.closed_at.is_(None))
                .values(closed_at=closed_at, updated_at=closed_at)
            )


async def save_alerts(
    engine: AsyncEngine,
    new: list[Alert],
    changed: list[Alert],
    fence: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    """Insert ``new`` and store the whole state of ``changed`` alerts, in one transaction.

    One transaction, so a failed batch can be retried as a whole. ``fence`` is taken
    first in it (the leader's, :meth:`~hashfleet.server.leader.Leadership.fence`).
    """
    if not new and not changed:
        return
    async with engine.begin() as conn:
        if fence is not None:
            await fence(conn)
        if new:
            await conn.execute(alerts.insert(), [_row(a) for a in new])
        if changed:
            stmt = (
                update(alerts)
                .where(alerts.c.id == bindparam("b_id"))
                .values(
                    severity=bindparam("b_severity"),
                    name=bindparam("b_name"),
                    description=bindparam("b_description"),
                    updated_at=bindparam("b_updated_at"),
                    closed_at=bindparam("b_closed_at"),
                    data=bindparam("b_data", type_=alerts.c.data.type),
                )
            )
            await conn.execute(
                stmt,
                [
                    {
                        "b_id": a.id,
                        "b_severity": a.severity,
                        "b_name": a.name,
                        "b_description": a.description,
                        "b_updated_at": a.updated_at,
                        "b_closed_at": a.closed_at,
                        "b_data": a.data,
                    }
                    for a in changed
                ],
            )


def _alert(row: Any) -> Alert:
    m = row._mapping
    return Alert(**{c.name: m[c.name] for c in alerts.columns})


async def open_alerts(engine: AsyncEngine) -> list[Alert]:
    """Every open alert (loaded at start-up)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(alerts).where(alerts.c.closed_at.is_(None)))
        return [_alert(r) for r in rows]


def _history_conds(
    start: int | None,
    end: int | None,
    thing_ids: list[str] | None,
    include_open: bool,
    severities: list[str] | None,
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if not include_open:
        conds.append(alerts.c.closed_at.is_not(None))
    if start is not None:
        conds.append(alerts.c.created_at >= start)
    if end is not None:
        conds.append(alerts.c.created_at <= end)
    if thing_ids is not None:
        conds.append(alerts.c.thing_id.in_(thing_ids))
    if severities is not None:
        conds.append(alerts.c.severity.in_(severities))
    return conds


async def alert_history(
    engine: AsyncEngine,
    *,
    start: int | None = None,
    end: int | None = None,
    thing_ids: list[str] | None = None,
    include_open: bool = False,
    severities: list[str] | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[Alert]:
    """Alerts created in ``[start, end]`` (ms), newest first; closed ones unless asked."""
    conds = _history_conds(start, end, thing_ids, include_open, severities)
    stmt = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id).offset(offset)
    if conds:
        stmt = stmt.where(and_(*conds))
    async with engine.connect() as conn:
        rows = await conn.execute(stmt.limit(limit))
        return [_alert(r) for r in rows]


async def count_alerts(
    engine: AsyncEngine,
    *,
    start: int | None = None,
    end: int | None = None,
    thing_ids: list[str] | None = None,
    include_open: bool = False,
    severities: list[str] | None = None,
) -> int:
    """How many alerts ``alert_history`` would list without offset and limit."""
    conds = _history_conds(start, end, thing_ids, include_open, severities)
    stmt = select(func.count()).select_from(alerts)
    if conds:
        stmt = stmt.where(and_(*conds))
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())
