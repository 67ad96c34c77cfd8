"""Routes for agents: their configuration, the ingest endpoint and their job queue."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response

from hashfleet.core.errors import BadRequest
from hashfleet.server.api.deps import agent_principal, get_state
from hashfleet.server.auth.principal import Principal
from hashfleet.server.ingest.receive import receive_batch
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps
from hashfleet.wire.messages import (
    AgentConfig,
    AgentJobs,
    AgentThing,
    IngestBatch,
    JobResults,
    JobResultsAck,
)

router = APIRouter(prefix="/api/agent", tags=["agent"])

_batch_decoder = msgspec.json.Decoder(IngestBatch)
_results_decoder = msgspec.json.Decoder(JobResults)
MAX_WAIT_S = 55.0  # below common proxy idle timeouts
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
    # Several servers: a thing registered on another one may not have reached this one yet.
    refresh = state.refresh_things if state.shared else None
    ack = await receive_batch(batch, principal.rack_id, state.live, state.bus, refresh)
    return Response(json_dumps(ack), media_type="application/json")


@router.get("/jobs", summary="Approved calls for this agent's things (long poll)")
async def agent_jobs(
    wait: float = Query(0.0, ge=0, le=MAX_WAIT_S, description="seconds to wait for a job"),
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(agent_principal),
) -> Response:
    """Jobs of this rack to run now; waits up to ``wait`` seconds when there are none."""
    assert principal.rack_id is not None
    jobs = await state.jobs.offer(principal.rack_id, wait)
    return Response(json_dumps(AgentJobs(jobs=jobs)), media_type="application/json")


@router.post(
    "/jobs/results",
    summary="Report how jobs ended; answers the ids now durable",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": msgspec.json.schema(JobResults)}},
            "required": True,
        }
    },
)
async def agent_job_results(
    request: Request,
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(agent_principal),
) -> Response:
    """Record results; only a job of this rack, and only its first result, counts."""
    try:
        results = _results_decoder.decode(await request.body())
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid results: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest("results are not valid JSON") from exc
    assert principal.rack_id is not None
    acked = await state.jobs.report(principal.rack_id, results.results)
    return Response(json_dumps(JobResultsAck(acked=acked)), media_type="application/json")
