"""Resource routes for the dashboard: aggregates, thing detail and history, rack tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import NotFound
from hashfleet.server.api.deps import admin_principal, get_state, user_principal
from hashfleet.server.auth.principal import Principal
from hashfleet.server.live.status import summary_row
from hashfleet.server.state import ServerState
from hashfleet.server.store.snapshots import thing_history
from hashfleet.wire.codec import json_dumps

router = APIRouter(prefix="/api", tags=["fleet"])


@router.get("/aggregates", summary="Fleet aggregates from the live index")
async def aggregates(
    state: ServerState = Depends(get_state), _p: Principal = Depends(user_principal)
) -> dict[str, Any]:
    """Hashrate by coin, power, alive count, counts by status and type."""
    return state.live.aggregates.to_dict()


@router.get("/fleet", summary="One summary row per thing")
async def fleet(
    state: ServerState = Depends(get_state), _p: Principal = Depends(user_principal)
) -> list[dict[str, Any]]:
    """The fleet table's rows."""
    return [summary_row(d) for d in state.live.things.values()]


@router.get(
    "/things/{thing_id}",
    summary="A thing with its latest snapshot",
    response_model=dict[str, Any],
)
async def thing(
    thing_id: str, state: ServerState = Depends(get_state), _p: Principal = Depends(user_principal)
) -> Response:
    """The live document of one thing."""
    doc = state.live.things.get(thing_id)
    if doc is None:
        raise NotFound(f"thing {thing_id!r} not found", code="ERR_THING_NOTFOUND")
    # msgspec, not pydantic: the latest snapshot is kept packed and encodes itself.
    return Response(json_dumps(doc), media_type="application/json")


@router.get("/things/{thing_id}/history", summary="Recent snapshots of a thing")
async def history(
    thing_id: str,
    minutes: int = Query(60, ge=1, le=7 * 24 * 60),
    limit: int = Query(2000, ge=1, le=20000),
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> list[dict[str, Any]]:
    """Snapshot events of the last ``minutes``, oldest first."""
    if thing_id not in state.live.things:
        raise NotFound(f"thing {thing_id!r} not found", code="ERR_THING_NOTFOUND")
    end = now_ms()
    return await thing_history(state.engine, thing_id, end - minutes * 60_000, end, limit)


@router.post("/racks/{rack_id}/token", summary="Issue a new agent token for a rack")
async def rack_token(
    rack_id: str, state: ServerState = Depends(get_state), _p: Principal = Depends(admin_principal)
) -> dict[str, str]:
    """A new rack token (shown once); the previous one stops working."""
    if state.registry.rack(rack_id) is None:
        raise NotFound(f"rack {rack_id!r} not found", code="ERR_RACK_ID_INVALID")
    return {"rack": rack_id, "token": await state.auth.create_rack_token(rack_id)}
