"""``POST /rpc/tailLog``, ``tailLogMulti``, ``tailLogCustomRangeAggr``: the fleet's history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from hashfleet.server.api.deps import get_state, user_principal
from hashfleet.server.api.rpc_models import RpcBody, body_of
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps

router = APIRouter(prefix="/rpc", tags=["history"])


class TailLogRequest(RpcBody):
    """tailLog: one log's entries (our codes for bad values, so fields are loosely typed)."""

    type: Any = Field(None, description="thing type, e.g. miner")
    key: Any = Field(
        "stat-5m", description="stat-5m | stat-30m | stat-3h | stat-1D | stat-rtd | thing-5m[-<id>]"
    )
    tag: Any = Field(None, description="tag selecting the things (default t-<type>)")
    fields: Any = Field(None, description="entry fields to return ({name: 1}); all if absent")
    aggrFields: Any = Field(None, description="merge entries; X_aggr is X merged")
    groupRange: Any = Field(None, description="merge window: 30m, 1h, 1D, 1w or ms")
    timezoneOffset: Any = Field(0, description="ms east of UTC, one of aggrTailLogTimezones")
    start: Any = Field(None, description="ms, inclusive")
    end: Any = Field(None, description="ms, inclusive")
    limit: Any = Field(None, description="entries (or merged windows), at most 100000")
    offset: Any = None
    applyAggrCrossthg: Any = Field(None, description="thing-5m: merge things per bucket")


class TailLogMultiRequest(RpcBody):
    """tailLogMulti: several tailLogs; other fields apply to every key."""

    keys: Any = Field(description="[{type, key, tag, …}]")


class CustomRangeRequest(RpcBody):
    """tailLogCustomRangeAggr: daily entries between dates, per configured timezone."""

    keys: Any = Field(
        description="[{type, tag?, startDate, endDate, timezoneOffset, fields, "
        "shouldReturnDailyData}]"
    )


def _json(result: Any) -> Response:
    # Thousands of entries: encoded straight to bytes, not walked by jsonable_encoder.
    return Response(json_dumps(result), media_type="application/json")


@router.post(
    "/tailLog",
    summary="Time-series entries of a type and tag, plain or merged",
    response_model=list[dict[str, Any]],
)
async def tail_log(
    req: TailLogRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """tailLog."""
    return _json(await state.series.tail_log(body_of(req)))


@router.post(
    "/tailLogMulti",
    summary="Several tailLogs in one call",
    response_model=list[list[dict[str, Any]]],
)
async def tail_log_multi(
    req: TailLogMultiRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """tailLogMulti."""
    return _json(await state.series.tail_log_multi(body_of(req)))


@router.post(
    "/tailLogCustomRangeAggr",
    summary="Daily aggregates over date ranges",
    response_model=list[dict[str, Any]],
)
async def tail_log_custom_range_aggr(
    req: CustomRangeRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """tailLogCustomRangeAggr."""
    return _json(await state.series.custom_range_aggr(body_of(req)))
