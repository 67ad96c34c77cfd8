"""``POST /rpc/<method>``: the seeds' RPC methods over HTTP, one typed route each."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from hashfleet.server.api.deps import get_state, user_principal, writer_principal
from hashfleet.server.api.rpc_models import (
    EmptyRequest,
    ForgetRacksRequest,
    ForgetThingsRequest,
    ListRacksRequest,
    ListThingsRequest,
    PingRequest,
    RegisterRackRequest,
    RegisterThingRequest,
    UpdateThingRequest,
    body_of,
)
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps

router = APIRouter(prefix="/rpc", tags=["rpc"])


@router.post("/ping", summary="Echo test: returns its input")
async def ping(req: PingRequest, _p: Principal = Depends(user_principal)) -> Any:
    """ping."""
    return body_of(req)


@router.post("/getInstanceId", summary="This server's instance id")
async def get_instance_id(
    _req: EmptyRequest | None = None,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> str:
    """getInstanceId."""
    return state.instance_id


@router.post("/registerThing", summary="Register a device; returns 1")
async def register_thing(
    req: RegisterThingRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """registerThing."""
    # The caller is the change log's author (agents cannot call this: writer only).
    await state.registry.register_things([body_of(req)], user=p.name)
    return 1


@router.post("/updateThing", summary="Update a device's opts, info or tags; returns 1")
async def update_thing(
    req: UpdateThingRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """updateThing."""
    return await state.registry.update_thing(body_of(req), user=p.name)


@router.post(
    "/listThings",
    summary="Query devices (Mongo-style query, fields, sort, paging)",
    response_model=list[dict[str, Any]],
)
async def list_things(
    req: ListThingsRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """listThings."""
    # Up to 100,000 documents: encoded straight to bytes (the latest snapshots, kept packed
    # in the live index, are decoded only here).
    things = state.registry.list_things(body_of(req))
    return Response(json_dumps(things), media_type="application/json")


@router.post("/forgetThings", summary="Remove devices; returns how many")
async def forget_things(
    req: ForgetThingsRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """forgetThings."""
    return await state.registry.forget_things(body_of(req), user=p.name)


@router.post("/registerRack", summary="Register a rack (agent); returns 1")
async def register_rack(
    req: RegisterRackRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(writer_principal),
) -> int:
    """registerRack."""
    return await state.registry.register_rack(req.id, req.type, req.info)


@router.post("/listRacks", summary="List racks")
async def list_racks(
    req: ListRacksRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> list[dict[str, Any]]:
    """listRacks."""
    return state.registry.list_racks(req.type, req.keys)


@router.post("/forgetRacks", summary="Remove racks; returns how many")
async def forget_racks(
    req: ForgetRacksRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(writer_principal),
) -> int:
    """forgetRacks."""
    return await state.registry.forget_racks(req.ids, req.all)
