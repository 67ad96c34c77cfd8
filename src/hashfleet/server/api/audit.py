"""``GET /api/audit``: the audit log, for administrators."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query

from hashfleet.core.errors import QueryInvalid
from hashfleet.server.api.deps import admin_principal, get_state
from hashfleet.server.audit.entry import ACTOR_KINDS
from hashfleet.server.audit.middleware import UNSAFE_METHODS
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.server.store.audit import AuditQuery, count_entries, list_entries

router = APIRouter(prefix="/api", tags=["audit"])

MAX_LIMIT = 1000
# Times and offsets are BIGINT in the store: larger values must be refused, not sent to SQL.
MAX_MS = 2**53
_STATUS = re.compile(r"^([1-5])(xx|\d\d)$", re.IGNORECASE)


def status_range(value: str | None) -> tuple[int | None, int | None]:
    """``"4xx"`` → ``(400, 499)``, ``"403"`` → ``(403, 403)``, ``None`` → no bounds."""
    if value is None:
        return None, None
    match = _STATUS.match(value.strip())
    if match is None:
        raise QueryInvalid("status is a class (2xx, 4xx…) or a code (403)")
    if match.group(2).lower() == "xx":
        low = int(match.group(1)) * 100
        return low, low + 99
    code = int(value)
    return code, code


@router.get("/audit", summary="The audit log of writes (administrators only)")
async def list_audit(
    actor: str | None = Query(None, description="exact name of the caller"),
    kind: str | None = Query(None, description="user, agent or anonymous"),
    since: int | None = Query(None, ge=0, le=MAX_MS, description="at or after (ms)"),
    until: int | None = Query(None, ge=0, le=MAX_MS, description="at or before (ms)"),
    method: str | None = Query(None, description="POST, PUT, PATCH, DELETE (comma-separated)"),
    path: str | None = Query(None, description="path prefix, e.g. /rpc/"),
    status: str | None = Query(None, description="status class (4xx) or code (403)"),
    offset: int = Query(0, ge=0, le=MAX_MS),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(admin_principal),
) -> dict[str, Any]:
    """Recorded writes, newest first, filtered and paged; ``total`` counts every match."""
    methods = None
    if method:
        methods = tuple(m.strip().upper() for m in method.split(",") if m.strip())
        if not set(methods) <= UNSAFE_METHODS:
            raise QueryInvalid(f"method is one of {', '.join(sorted(UNSAFE_METHODS))}")
    if kind is not None and kind not in ACTOR_KINDS:
        raise QueryInvalid(f"kind is one of {', '.join(ACTOR_KINDS)}")
    low, high = status_range(status)
    query = AuditQuery(
        actor=actor,
        actor_kind=kind,
        since=since,
        until=until,
        methods=methods,
        path_prefix=path,
        status_min=low,
        status_max=high,
    )
    # What is still queued first, so a write just made is already listed.
    await state.audit.flush()
    entries = await list_entries(state.engine, query, offset=offset, limit=limit)
    total = await count_entries(state.engine, query)
    return {
        "entries": [e.to_dict() for e in entries],
        "total": total,
        "offset": offset,
        "limit": limit,
    }
