"""``POST /rpc/queryThing`` and ``/rpc/applyThings``: a control run on devices at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from hashfleet.server.api.actions import actor_principal
from hashfleet.server.api.deps import get_state
from hashfleet.server.api.rpc_models import RpcBody, body_of
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps

router = APIRouter(prefix="/rpc", tags=["things"])


class QueryThingRequest(RpcBody):
    """queryThing: one device, one control, waits for the result."""

    id: Any = Field(None, description="thing id")
    method: Any = Field(None, description="a control: reboot, setPowerMode, setLED, …")
    params: Any = Field(None, description="the control's parameters (array)")
    timeout: Any = Field(None, description="seconds to wait (default 60, at most 300)")


class ApplyThingsRequest(RpcBody):
    """applyThings: one control on every matching device the caller may act on."""

    method: Any = Field(None, description="a control: reboot, setPowerMode, setLED, …")
    query: Any = Field(None, description="Mongo-style query over things (default: all)")
    params: Any = None
    sort: Any = None
    offset: Any = None
    limit: Any = None
    timeout: Any = None


@router.post("/queryThing", summary="Run a control on one device now (no vote)")
async def query_thing(
    req: QueryThingRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(actor_principal),
) -> Response:
    """queryThing → the method's result."""
    result = await state.direct.query_thing(p, body_of(req))
    return Response(json_dumps(result), media_type="application/json")


@router.post("/applyThings", summary="Run a control on matching devices now (no vote)")
async def apply_things(
    req: ApplyThingsRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(actor_principal),
) -> int:
    """applyThings → how many devices ran it successfully."""
    return await state.direct.apply_things(p, body_of(req))
