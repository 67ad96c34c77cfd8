"""``GET /api/alerts``: open alerts from memory, history from the store."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from hashfleet.core.errors import BadRequest
from hashfleet.model.alert import SEVERITIES, Alert
from hashfleet.server.api.deps import get_state, user_principal
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.server.store.alerts import alert_history, count_alerts

router = APIRouter(prefix="/api", tags=["alerts"])

MAX_LIMIT = 1000
# Times and offsets are BIGINT in the store: larger values must be refused, not sent to SQL.
MAX_MS = 2**53


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated query values as one list (``None`` when absent)."""
    if not values:
        return None
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return out or None


@router.get("/alerts", summary="Open alerts and alert history")
async def list_alerts(
    state_: Literal["open", "closed", "all"] = Query("open", alias="state"),
    severity: list[str] | None = Query(None, description="critical, high, medium, low"),
    thing: list[str] | None = Query(None, description="thing ids"),
    type_: list[str] | None = Query(None, alias="type", description="thing types"),
    since: int | None = Query(None, ge=0, le=MAX_MS, description="created at or after (ms)"),
    until: int | None = Query(None, ge=0, le=MAX_MS, description="created at or before (ms)"),
    offset: int = Query(0, ge=0, le=MAX_MS),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> dict[str, Any]:
    """Open alerts (most severe first) or history (newest first), filtered and paged."""
    severities = _split(severity)
    if severities is not None and not set(severities) <= set(SEVERITIES):
        raise BadRequest(f"severity is one of {', '.join(SEVERITIES)}", code="ERR_QUERY_INVALID")
    thing_ids = _split(thing)
    types = _split(type_)
    if types is not None:
        # Types are read from the live index: a forgotten thing's history has no type left.
        of_type = [t for t, d in state.live.things.items() if d.get("type") in types]
        thing_ids = of_type if thing_ids is None else [t for t in thing_ids if t in of_type]
    if state_ == "open":
        ids = set(thing_ids) if thing_ids is not None else None
        found = [a for a in state.alerts.active() if _matches(a, severities, ids, since, until)]
        page = found[offset : offset + limit]
        total = len(found)
    else:
        # Queued changes first, so history agrees with what the live channel has shown.
        await state.alerts.flush()
        query: dict[str, Any] = {
            "start": since,
            "end": until,
            "thing_ids": thing_ids,
            "include_open": state_ == "all",
            "severities": severities,
        }
        page = await alert_history(state.engine, offset=offset, limit=limit, **query)
        total = await count_alerts(state.engine, **query)
    return {
        "alerts": [a.to_dict() for a in page],
        "total": total,
        "offset": offset,
        "limit": limit,
    }


def _matches(
    alert: Alert,
    severities: list[str] | None,
    thing_ids: set[str] | None,
    since: int | None,
    until: int | None,
) -> bool:
    return (
        (severities is None or alert.severity in severities)
        and (thing_ids is None or alert.thing_id in thing_ids)
        and (since is None or alert.created_at >= since)
        and (until is None or alert.created_at <= until)
    )
