"""Routes for agents: their configuration and the ingest endpoint."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Depends, Request, Response

from hashfleet.core.errors import BadRequest
from hashfleet.server.api.deps import agent_principal, get_state
from hashfleet.server.auth.principal import Principal
from hashfleet.server.ingest.receive import receive_batch
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps
from hashfleet.wire.messages import AgentConfig, AgentThing, IngestBatch

router = APIRouter(prefix="/api/agent", tags=["agent"])

_batch_decoder = msgspec.json.Decoder(IngestBatch)
MAX_BODY = 64 * 1024 * 1024


@router.get("/config", summary="The things this agent's rack polls")
async def agent_config(
    state: ServerState = Depends(get_state), principal: Principal = Depends(agent_principal)
) -> Response:
    """What the agent polls: its rack's things and their opts."""
    assert principal.rack_id is not None
    things = [
        AgentThing(id=d["id"], code=d["code"], type=d["type"], opts=d["opts"])
        for d in state.registry.rack_things(principal.rack_id)
    ]
    config = AgentConfig(
        rack_id=principal.rack_id, things=things, poll_interval=state.settings.poll_interval_s
    )
    return Response(json_dumps(config), media_type="application/json")


@router.post(
    "/ingest",
    summary="Ingest a batch of snapshots; answers once they are durable",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": msgspec.json.schema(IngestBatch)}},
            "required": True,
        }
    },
)
async def ingest(
    request: Request,
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(agent_principal),
) -> Response:
    """Decode with msgspec (the hot path), store durably, acknowledge."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest("batch too large")
    try:
        batch = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid batch: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest("batch is not valid JSON") from exc
    assert principal.rack_id is not None
    ack = await receive_batch(batch, principal.rack_id, state.live, state.bus)
    return Response(json_dumps(ack), media_type="application/json")
