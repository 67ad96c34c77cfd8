"""Which things an action runs on: the query over the live index, cut to what may run.

``check_request`` validates what pushAction sends (``ERR_QUERY_INVALID``,
``ERR_ACTION_INVALID``, ``ERR_PARAMS_INVALID`` and the rack-action codes) and raises;
``resolve`` turns a valid request into per-rack calls plus the reasons things were left
out. A thing is kept only when

- the caller may write its type (``Principal.can(type, "w")``),
- its driver family has the action among its capabilities (``drivers/base.CAPABILITIES``),
- it belongs to a rack (an agent of that rack is what will run it).

Things left out are listed in ``errors`` (``ERR_ACTION_DENIED``,
``ERR_ACTION_UNSUPPORTED``, ``ERR_ACTION_NO_RACK``); an action with no call left is not
created (``ERR_ORK_ACTION_CALLS_EMPTY``).

Rack actions (``registerThing``, ``updateThing``, ``forgetThings``) change a rack's
registry instead of a device: ``params[0]`` names the rack (``rackId``) and the thing, and
the action has one call on that rack. ``rackReboot`` (``params[0].rackId``) restarts the
rack's agent: one call whose id is the rack and whose type is the rack's type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hashfleet.core.errors import BadRequest
from hashfleet.drivers.base import CAPABILITIES
from hashfleet.drivers.registry import BUILTIN, driver_class
from hashfleet.server.actions.model import (
    ACTION_NAME_MAX,
    DEFAULT_REQ_VOTES_NEG,
    DEFAULT_REQ_VOTES_POS,
    RACK_ACTIONS,
    method_name,
    rack_requirements,
)
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.query.matcher import compile_query
from hashfleet.wire.codec import json_dumps

CALLS_EMPTY = "ERR_ORK_ACTION_CALLS_EMPTY"
DENIED = "ERR_ACTION_DENIED"
UNSUPPORTED = "ERR_ACTION_UNSUPPORTED"
NO_RACK = "ERR_ACTION_NO_RACK"
RACK_UNKNOWN = "ERR_RACK_ID_INVALID"
# An error entry lists at most this many ids (and the full count): a query over a large
# fleet must not turn into a megabyte of error text.
MAX_ERROR_IDS = 100
# params are stored in the action and later sent to every agent involved.
MAX_PARAMS_BYTES = 64 * 1024

_MESSAGES = {
    DENIED: "the caller may not write things of this type",
    UNSUPPORTED: "the device's driver does not support this action",
    NO_RACK: "the thing belongs to no rack, so no agent can run the action",
    RACK_UNKNOWN: "no such rack",
}

RackLookup = Callable[[str], "dict[str, Any] | None"]


@dataclass
class Request:
    """A checked pushAction request."""

    action: str
    method: str
    params: list[Any]
    query: Any


@dataclass
class Resolution:
    """Calls grouped per rack (``targets`` of the action) and why others were left out."""

    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether no call is left (the action must not be created)."""
        return not any(t["calls"] for t in self.targets.values())


def check_request(query: Any, action: Any, params: Any) -> Request:
    """Validate a pushAction request; raises 400 with the seed's codes."""
    if params is None:
        params = []
    if not isinstance(action, str) or not action.strip():
        raise BadRequest("action must be a non-empty string", code="ERR_ACTION_INVALID")
    if len(action) > ACTION_NAME_MAX:
        raise BadRequest(
            f"action is at most {ACTION_NAME_MAX} characters", code="ERR_ACTION_INVALID"
        )
    method = method_name(action)
    if action not in RACK_ACTIONS and method not in CAPABILITIES:
        # An action no driver can ever run would only collect votes for nothing.
        known = sorted(CAPABILITIES) + list(RACK_ACTIONS)
        raise BadRequest(
            f"unknown action {action!r} (known: {', '.join(known)})", code="ERR_ACTION_INVALID"
        )
    if not isinstance(params, list):
        raise BadRequest("params must be an array", code="ERR_PARAMS_INVALID")
    if len(json_dumps(params)) > MAX_PARAMS_BYTES:
        raise BadRequest(
            f"params are at most {MAX_PARAMS_BYTES} bytes of JSON", code="ERR_PARAMS_INVALID"
        )
    if action in RACK_ACTIONS:
        _check_rack_params(action, params)
        if query is not None:
            compile_query(query)
    else:
        if not isinstance(query, dict):
            raise BadRequest("query must be an object", code="ERR_QUERY_INVALID")
        compile_query(query)
    return Request(action=action, method=method, params=params, query=query)


def _check_rack_params(action: str, params: list[Any]) -> None:
    first = params[0] if params else None
    if not isinstance(first, dict) or not isinstance(first.get("rackId"), str):
        raise BadRequest(
            f"{action} needs params[0].rackId", code="ERR_ACTION_INVALID_MISSING_RACKID"
        )
    if action == "updateThing" and not isinstance(first.get("id"), str):
        raise BadRequest("updateThing needs params[0].id", code="ERR_ACTION_INVALID_MISSING_ID")
    if action == "forgetThings":
        query = first.get("query")
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise BadRequest(
                "forgetThings needs params[0].query.id (one thing id)",
                code="ERR_ACTION_INVALID_QUERY_ID",
            )


@functools.cache
def family_capabilities(family: str) -> frozenset[str]:
    """The control methods a driver family declares (none for an unknown family)."""
    if family not in BUILTIN:
        return frozenset()
    caps: frozenset[str] = getattr(driver_class(family), "capabilities", frozenset())
    return caps


def resolve(
    req: Request,
    live: LiveIndex,
    rack_of: RackLookup,
    can_write: Callable[[str], bool],
    *,
    default_pos: int = DEFAULT_REQ_VOTES_POS,
    default_neg: int = DEFAULT_REQ_VOTES_NEG,
) -> Resolution:
    """The calls of ``req`` per rack, each rack with its vote thresholds.

    ``rack_of`` returns a rack (with its ``info``) or None, ``can_write`` whether the
    caller may write a thing type.
    """
    left_out: dict[str, list[str]] = {}
    calls: dict[str, list[dict[str, Any]]] = {}
    if req.action in RACK_ACTIONS:
        _rack_calls(req, live, rack_of, can_write, calls, left_out)
    else:
        pred = compile_query(req.query)
        for doc in live.things.values():
            if not pred(doc):
                continue
            thing_id = str(doc["id"])
            thing_type = str(doc.get("type"))
            family = (doc.get("opts") or {}).get("family")
            if not can_write(thing_type):
                left_out.setdefault(DENIED, []).append(thing_id)
            elif not isinstance(family, str) or req.method not in family_capabilities(family):
                left_out.setdefault(UNSUPPORTED, []).append(thing_id)
            elif not doc.get("rack") or rack_of(doc["rack"]) is None:
                left_out.setdefault(NO_RACK, []).append(thing_id)
            else:
                call = {"id": thing_id, "type": thing_type, "code": doc.get("code")}
                calls.setdefault(doc["rack"], []).append(call)
    out = Resolution()
    for rack_id in sorted(calls):
        rack = rack_of(rack_id) or {}
        pos, neg = rack_requirements(rack.get("info"), req.action, default_pos, default_neg)
        out.targets[rack_id] = {"calls": calls[rack_id], "reqVotesPos": pos, "reqVotesNeg": neg}
    for code, ids in left_out.items():
        out.errors.append(
            {
                "error": code,
                "message": _MESSAGES[code],
                "count": len(ids),
                "ids": ids[:MAX_ERROR_IDS],
            }
        )
    if out.empty:
        out.errors.append(
            {"error": CALLS_EMPTY, "message": "no target matches the query and your permissions"}
        )
    return out


def _rack_calls(
    req: Request,
    live: LiveIndex,
    rack_of: RackLookup,
    can_write: Callable[[str], bool],
    calls: dict[str, list[dict[str, Any]]],
    left_out: dict[str, list[str]],
) -> None:
    first: dict[str, Any] = req.params[0]
    rack_id: str = first["rackId"]
    rack = rack_of(rack_id)
    if rack is None:
        left_out.setdefault(RACK_UNKNOWN, []).append(rack_id)
        return
    call_id: str
    thing_type: str
    if req.action == "registerThing":
        call_id = rack_id
        given = first.get("type")
        thing_type = given if isinstance(given, str) else str(rack["type"])
    elif req.action == "rackReboot":
        # Restarting a rack's agent touches every thing of the rack: write on its type.
        call_id = rack_id
        thing_type = str(rack["type"])
    else:
        call_id = first["id"] if req.action == "updateThing" else first["query"]["id"]
        known = live.things.get(call_id)
        thing_type = str(known["type"] if known else rack["type"])
    if not can_write(thing_type):
        left_out.setdefault(DENIED, []).append(call_id)
        return
    calls[rack_id] = [{"id": call_id, "type": thing_type, "rack": rack_id}]
