"""Custom roles: a name, its ``{type}:{level}`` permission strings and a description."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import Conflict, NotFound
from hashfleet.server.store.tables import roles, users


def _row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["permissions"] = list(out["permissions"] or [])
    return out


async def list_roles(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every custom role, by name."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(roles).order_by(roles.c.name))).all()
    return [_row(r) for r in rows]


async def create_role(
    engine: AsyncEngine, name: str, permissions: list[str], description: str
) -> None:
    """Add a custom role; ``ERR_ROLE_EXISTS`` when the name is taken."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                roles.insert().values(
                    name=name,
                    permissions=permissions,
                    description=description,
                    created_at=now_ms(),
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"role {name!r} already exists", code="ERR_ROLE_EXISTS") from exc


async def update_role(
    engine: AsyncEngine, name: str, permissions: list[str], description: str
) -> None:
    """Replace a custom role's permissions and description."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(roles)
            .where(roles.c.name == name)
            .values(permissions=permissions, description=description)
        )
    if result.rowcount == 0:
        raise NotFound(f"role {name!r} not found", code="ERR_ROLE_NOT_FOUND")


async def delete_role(engine: AsyncEngine, name: str) -> None:
    """Remove a custom role nobody has; ``ERR_ROLE_IN_USE`` otherwise."""
    async with engine.begin() as conn:
        in_use = (
            await conn.execute(select(func.count()).select_from(users).where(users.c.role == name))
        ).scalar_one()
        if in_use:
            raise Conflict(
                f"role {name!r} is held by {in_use} user(s)", code="ERR_ROLE_IN_USE", users=in_use
            )
        result = await conn.execute(delete(roles).where(roles.c.name == name))
    if result.rowcount == 0:
        raise NotFound(f"role {name!r} not found", code="ERR_ROLE_NOT_FOUND")
