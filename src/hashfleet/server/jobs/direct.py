"""queryThing and applyThings: a device control run at once, without a vote.

Unlike the seed's rack workers, which let any caller run any method, these check the
caller's write permission on each thing's type and the method against the thing's driver
capabilities; the audit middleware records every call. They go through the agents' job
queue like approved actions, so a device is still called by its own rack's agent, at most
once per call.
"""

from __future__ import annotations

from typing import Any

from hashfleet.core.errors import BadRequest, Forbidden, HashfleetError, NotFound
from hashfleet.drivers.base import CAPABILITIES
from hashfleet.server.actions.model import method_name
from hashfleet.server.actions.targets import family_capabilities
from hashfleet.server.auth.principal import Principal
from hashfleet.server.jobs.dispatcher import JobDispatcher
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.sort import sort_docs
from hashfleet.server.store import jobs as job_store

MAX_TARGETS = 10_000
DEFAULT_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 300.0


class GatewayTimeout(HashfleetError):
    """The device call did not end in time; it stays queued and runs once."""

    code = "ERR_THING_CALL_TIMEOUT"
    status = 504


class DeviceCallFailed(HashfleetError):
    """The device (or its agent) reported that the call failed."""

    code = "ERR_THING_CALL_FAILED"
    status = 502


class DirectCalls:
    """Runs controls on things for a permitted caller, through the job queue."""

    def __init__(self, live: LiveIndex, jobs: JobDispatcher) -> None:
        self.live = live
        self.jobs = jobs

    async def query_thing(self, principal: Principal, req: dict[str, Any]) -> Any:
        """queryThing ``{id, method, params, timeout?}`` → the method's result."""
        thing_id = req.get("id")
        if not isinstance(thing_id, str) or thing_id not in self.live.things:
            raise NotFound(f"thing {thing_id!r} not found", code="ERR_THING_NOTFOUND")
        doc = self.live.things[thing_id]
        method = _method(req.get("method"))
        params = _params(req.get("params"))
        _check_target(principal, doc, method)
        _, ended = await self.jobs.call([_call(doc, method, params)], _timeout(req.get("timeout")))
        row = ended[thing_id]
        if row is None:
            raise GatewayTimeout(f"{method} on {thing_id} did not end in time; it stays queued")
        if row["state"] != job_store.DONE:
            raise DeviceCallFailed(str(row.get("error") or "ERR_JOB_FAILED"))
        return row.get("result")

    async def apply_things(self, principal: Principal, req: dict[str, Any]) -> int:
        """applyThings ``{method, query?, params?, sort?, offset?, limit?}`` → how many
        things ran the method successfully (those the caller may not act on are skipped)."""
        method = _method(req.get("method"))
        params = _params(req.get("params"))
        pred = compile_query(req.get("query") or {})
        docs = [d for d in self.live.things.values() if pred(d)]
        if req.get("sort") is not None:
            docs = sort_docs(docs, req["sort"])
        offset, limit = _count(req.get("offset"), 0), _count(req.get("limit"), MAX_TARGETS)
        docs = docs[offset : offset + min(limit, MAX_TARGETS)]
        calls = []
        for doc in docs:
            try:
                _check_target(principal, doc, method)
            except HashfleetError:
                continue  # not this caller's, or not something this device can do
            calls.append(_call(doc, method, params))
        if not calls:
            return 0
        _, ended = await self.jobs.call(calls, _timeout(req.get("timeout")))
        return sum(1 for row in ended.values() if row is not None and row["state"] == "done")


def _method(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("method is required", code="ERR_THING_METHOD_NOTFOUND")
    method = method_name(value)
    if method not in CAPABILITIES:
        raise BadRequest(
            f"unknown method {value!r} (one of {', '.join(sorted(CAPABILITIES))})",
            code="ERR_THING_METHOD_NOTFOUND",
        )
    return method


def _params(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("params must be an array", code="ERR_PARAMS_INVALID")
    return value


def _timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise BadRequest("timeout is seconds > 0", code="ERR_PARAMS_INVALID")
    return min(float(value), MAX_TIMEOUT_S)


def _count(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest("offset and limit are integers ≥ 0", code="ERR_LIMIT_INVALID")
    return value


def _check_target(principal: Principal, doc: dict[str, Any], method: str) -> None:
    if not principal.can(str(doc.get("type")), "w"):
        raise Forbidden(f"may not act on {doc['id']}", code="ERR_ACTION_DENIED")
    family = (doc.get("opts") or {}).get("family")
    if not isinstance(family, str) or method not in family_capabilities(family):
        raise BadRequest(
            f"{doc['id']} ({family}) cannot {method}", code="ERR_THING_METHOD_NOTFOUND"
        )
    if not doc.get("rack"):
        raise BadRequest(f"{doc['id']} has no rack: no agent can reach it", code="ERR_NO_RACK")


def _call(doc: dict[str, Any], method: str, params: list[Any]) -> dict[str, Any]:
    return {"rack_id": doc["rack"], "thing_id": doc["id"], "method": method, "params": params}
