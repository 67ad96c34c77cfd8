"""Approval-voted actions over RPC: ``POST /rpc/pushAction``, ``voteAction``, ….

pushAction, pushActionsBatch, voteAction, getAction, getActionsBatch, queryActions and
cancelActionsBatch, with the seed's bodies and answers (docs/ACTIONS.md).

Who acts is always the authenticated caller: a ``voter`` in the body is ignored (the
creator and every voter are the caller's name), and so is ``authPerms`` (permissions
come from the caller's role and token). Writes need a person with write permission: on the
targets' types to push (things of other types are left out), on every type of the
action's ``requiredPerms`` to vote (``403 ERR_ACTION_DENIED``). Reads need a logged-in
person.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from hashfleet.core.errors import Forbidden
from hashfleet.server.actions.model import STATES
from hashfleet.server.api.deps import get_state, user_principal
from hashfleet.server.api.rpc_models import RpcBody
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps

router = APIRouter(prefix="/rpc", tags=["actions"])


class PushActionRequest(RpcBody):
    """pushAction: an action on the things a query selects, submitted for approval."""

    query: Any = Field(None, description="Mongo-style query over the things (as listThings)")
    action: Any = Field(None, description="e.g. reboot, setPowerMode, setPools, updateThing")
    params: Any = Field(None, description="the action's parameters (an array)")


class PushActionsBatchRequest(RpcBody):
    """pushActionsBatch: up to 1,000 actions sharing a batch UID."""

    batchActionsPayload: Any = Field(None, description="[{query, action, params}, …]")
    batchActionUID: Any = Field(None, description="stored as {timestamp}-{batchActionUID}")


class VoteActionRequest(RpcBody):
    """voteAction: the caller approves (true) or denies (false) an action."""

    id: Any = Field(None, description="action id")
    approve: Any = Field(None, description="true = approve, false = deny")


class GetActionRequest(RpcBody):
    """getAction: one action."""

    id: Any = Field(None, description="action id")
    type: Any = Field(None, description=f"optional: only if in this state ({', '.join(STATES)})")


class GetActionsBatchRequest(RpcBody):
    """getActionsBatch: several actions; null for unknown ids."""

    ids: Any = Field(None, description="action ids")


class QueryActionsRequest(RpcBody):
    """queryActions: actions by state, creation time, Mongo query; optional batch grouping."""

    queries: Any = Field(None, description="[{type, filter{gt,gte,lt,lte}, opts{limit}, …}]")
    groupBatch: Any = Field(False, description="group actions by batchActionUID")


class CancelActionsBatchRequest(RpcBody):
    """cancelActionsBatch: cancel actions (the creator's own, or any for an administrator)."""

    ids: Any = Field(None, description="action ids")
    batchActionUID: Any = Field(None, description="optional: every open action of a batch")


async def actor_principal(p: Principal = Depends(user_principal)) -> Principal:
    """A person who may act on some type of thing; checked before the body, so a read-only
    caller learns only that it may not act (the seed's ``ERR_ACTION_DENIED``)."""
    if not p.can_write:
        raise Forbidden("this caller may not act on devices", code="ERR_ACTION_DENIED")
    return p


def _json(result: Any) -> Response:
    # Action documents can list thousands of calls: encoded straight to bytes.
    return Response(json_dumps(result), media_type="application/json")


@router.post("/pushAction", summary="Submit an action for approval")
async def push_action(
    req: PushActionRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(actor_principal),
) -> Response:
    """pushAction → ``{id, data, errors}``."""
    return _json(await state.actions.push(p, req.query, req.action, req.params))


@router.post("/pushActionsBatch", summary="Submit up to 1,000 actions as one batch")
async def push_actions_batch(
    req: PushActionsBatchRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(actor_principal),
) -> Response:
    """pushActionsBatch → one ``{id, data, errors}`` per item."""
    return _json(await state.actions.push_batch(p, req.batchActionsPayload, req.batchActionUID))


@router.post("/voteAction", summary="Approve or deny an action; returns 1")
async def vote_action(
    req: VoteActionRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(actor_principal),
) -> int:
    """voteAction."""
    return await state.actions.vote(p, req.id, req.approve)


@router.post("/getAction", summary="One action (null when unknown)")
async def get_action(
    req: GetActionRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """getAction."""
    ids = await state.actions.get_many([req.id])
    found = ids[0]
    if found is None or (req.type is not None and found["type"] != req.type):
        return _json(None)
    return _json(found["action"])


@router.post("/getActionsBatch", summary="Several actions; null for unknown ids")
async def get_actions_batch(
    req: GetActionsBatchRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """getActionsBatch → ``[{type, action} | null, …]``."""
    return _json(await state.actions.get_many(req.ids))


@router.post("/queryActions", summary="Actions by state and creation time")
async def query_actions(
    req: QueryActionsRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """queryActions → ``{type: [action | batch group, …]}``."""
    return _json(await state.actions.query(req.queries, bool(req.groupBatch)))


@router.post("/cancelActionsBatch", summary="Cancel actions; returns how many")
async def cancel_actions_batch(
    req: CancelActionsBatchRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(actor_principal),
) -> int:
    """cancelActionsBatch."""
    return await state.actions.cancel_many(p, req.ids, req.batchActionUID)
