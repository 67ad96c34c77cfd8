"""Audit log persistence: batched inserts and filtered, paged reads (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.audit.entry import AuditEntry
from hashfleet.server.store.tables import audit_log


@dataclass(frozen=True)
class AuditQuery:
    """Filters of the audit log; ``None`` means "any"."""

    actor: str | None = None
    actor_kind: str | None = None
    since: int | None = None  # ms, inclusive
    until: int | None = None  # ms, inclusive
    methods: tuple[str, ...] | None = None
    path_prefix: str | None = None
    status_min: int | None = None  # inclusive
    status_max: int | None = None  # inclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses of these filters."""
        c = audit_log.c
        conds: list[ColumnElement[bool]] = []
        if self.actor is not None:
            conds.append(c.actor == self.actor)
        if self.actor_kind is not None:
            conds.append(c.actor_kind == self.actor_kind)
        if self.since is not None:
            conds.append(c.ts >= self.since)
        if self.until is not None:
            conds.append(c.ts <= self.until)
        if self.methods is not None:
            conds.append(c.method.in_(self.methods))
        if self.path_prefix:
            # autoescape: "_" and "%" in a path are literal, not LIKE wildcards.
            conds.append(c.path.startswith(self.path_prefix, autoescape=True))
        if self.status_min is not None:
            conds.append(c.status >= self.status_min)
        if self.status_max is not None:
            conds.append(c.status <= self.status_max)
        return conds


async def insert_entries(engine: AsyncEngine, entries: list[AuditEntry]) -> None:
    """Store ``entries`` in one transaction."""
    if entries:
        async with engine.begin() as conn:
            await conn.execute(audit_log.insert(), [e.row() for e in entries])


def _entry(row: Any) -> AuditEntry:
    m = row._mapping
    return AuditEntry(**{col.name: m[col.name] for col in audit_log.columns})


async def list_entries(
    engine: AsyncEngine, query: AuditQuery, *, offset: int = 0, limit: int = 100
) -> list[AuditEntry]:
    """Entries matching ``query``, newest first (ties: last stored first)."""
    stmt = select(audit_log).order_by(audit_log.c.ts.desc(), audit_log.c.id.desc())
    conds = query.conditions()
    if conds:
        stmt = stmt.where(and_(*conds))
    async with engine.connect() as conn:
        rows = await conn.execute(stmt.offset(offset).limit(limit))
        return [_entry(r) for r in rows]


async def count_entries(engine: AsyncEngine, query: AuditQuery) -> int:
    """How many entries match ``query``."""
    stmt = select(func.count()).select_from(audit_log)
    conds = query.conditions()
    if conds:
        stmt = stmt.where(and_(*conds))
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())
