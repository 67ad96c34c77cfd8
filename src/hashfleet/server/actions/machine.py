"""Pure state transitions of an action document: no I/O, no clock, no shared state.

Every function takes a document and returns a new one (the input is never changed; parts
that do not change — targets, params — are shared, so they must be treated as
read-only), so the
service can persist the new document first and only then make it the current one. An
illegal transition raises :class:`ActionStateInvalid` (``ERR_ACTION_STATE_INVALID``).

::

    create ──► voting ──(positives ≥ reqVotesPos)──► ready ──start──► executing ──► done
                 │  └──(negatives ≥ reqVotesNeg)──► cancelled         (every target has
                 └──────────cancel (creator/admin)──┘   ▲                 a result)
                                     ready ──cancel─────┘

Votes: a voter counts once. Voting the same way again changes nothing; changing one's vote
is refused (``ERR_ACTION_VOTE_CHANGED``) — a vote is a signature, and letting it flip would
let one person count on both sides over time. The creator's vote is positive from the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hashfleet.core.errors import BadRequest, Conflict, Forbidden
from hashfleet.server.actions.model import (
    CANCELLED,
    DONE,
    EXECUTING,
    READY,
    RESULT_STATES,
    VOTING,
    target_ids,
    vote_counts,
)
from hashfleet.server.auth.permissions import WRITE, has_permission


class ActionStateInvalid(Conflict):
    """The action is not in a state that allows this."""

    code = "ERR_ACTION_STATE_INVALID"


class VoteChanged(Conflict):
    """The voter already voted the other way."""

    code = "ERR_ACTION_VOTE_CHANGED"


class ActionDenied(Forbidden):
    """The caller lacks write permission on a type the action needs."""

    code = "ERR_ACTION_DENIED"


class CancelDenied(Forbidden):
    """Only the action's creator or an administrator may cancel it."""

    code = "ERR_ACTION_CANCEL_DENIED"


def create(
    *,
    action_id: int,
    action: str,
    method: str,
    params: list[Any],
    query: Any,
    targets: dict[str, dict[str, Any]],
    creator: str,
    now: int,
    batch_uid: str | None = None,
) -> dict[str, Any]:
    """A new action: the creator's vote counts as positive.

    The thresholds are the highest the racks involved ask for. With ``reqVotesPos = 1``
    the creator's own vote approves it: the action is born ``ready``.
    """
    if not targets or not any(t["calls"] for t in targets.values()):
        raise BadRequest("an action needs at least one target", code="ERR_ORK_ACTION_CALLS_EMPTY")
    types = {call["type"] for t in targets.values() for call in t["calls"]}
    doc: dict[str, Any] = {
        "id": action_id,
        "action": action,
        "method": method,
        "params": params,
        "query": query,
        "targets": targets,
        "requiredPerms": sorted(types),
        "votes": {creator: True},
        "reqVotesPos": max(t["reqVotesPos"] for t in targets.values()),
        "reqVotesNeg": max(t["reqVotesNeg"] for t in targets.values()),
        "state": VOTING,
        "batchActionUID": batch_uid,
        "creator": creator,
        "createdAt": now,
        "updatedAt": now,
        "results": {},
    }
    return _tally(doc)


def may_vote(doc: dict[str, Any], perms: Iterable[str]) -> bool:
    """Whether ``perms`` grant write on every type the action needs."""
    held = list(perms)
    return all(has_permission(held, t, WRITE) for t in doc["requiredPerms"])


def vote(
    doc: dict[str, Any], voter: str, approve: bool, perms: Iterable[str], now: int
) -> dict[str, Any]:
    """Count ``voter``'s vote; returns the document unchanged for a repeated same vote.

    Raises ``ERR_ACTION_DENIED`` when ``perms`` lack write on a required type (checked
    first: a denied voter learns nothing about the action's state and changes nothing),
    ``ERR_ACTION_STATE_INVALID`` outside ``voting``, ``ERR_ACTION_VOTE_CHANGED`` when the
    voter already voted the other way.
    """
    if not may_vote(doc, perms):
        raise ActionDenied(
            f"voting needs write permission on {', '.join(doc['requiredPerms'])}",
        )
    previous = doc["votes"].get(voter)
    if previous is not None and previous == approve and doc["state"] != VOTING:
        return doc  # a retried vote that already took effect
    _expect(doc, (VOTING,), "vote on")
    if previous is not None:
        if previous == approve:
            return doc
        raise VoteChanged(f"{voter} already voted {'for' if previous else 'against'} this action")
    new = {**doc, "votes": {**doc["votes"], voter: bool(approve)}}
    new["updatedAt"] = max(now, doc["updatedAt"])
    return _tally(new)


def cancel(doc: dict[str, Any], who: str, is_admin: bool, now: int) -> dict[str, Any]:
    """Cancel before execution: only the creator or an administrator.

    ``ERR_ACTION_CANCEL_DENIED`` for anyone else, ``ERR_ACTION_STATE_INVALID`` once the
    action is executing or final.
    """
    if who != doc["creator"] and not is_admin:
        raise CancelDenied("only the action's creator or an administrator may cancel it")
    _expect(doc, (VOTING, READY), "cancel")
    return _moved(doc, CANCELLED, now)


def start(doc: dict[str, Any], now: int) -> dict[str, Any]:
    """ready → executing (the executor took the action)."""
    _expect(doc, (READY,), "start")
    return _moved(doc, EXECUTING, now)


def record_result(
    doc: dict[str, Any],
    target: str,
    state: str,
    now: int,
    *,
    error: str | None = None,
    result: Any = None,
) -> dict[str, Any]:
    """Record what happened on one target; the last result makes the action ``done``.

    A target's first result is final: a repeated report (an agent resending after a lost
    answer) returns the document unchanged.
    """
    return record_results(doc, [TargetResult(target, state, error, result)], now)


class TargetResult(NamedTuple):
    """One target's outcome, as :func:`record_results` takes it."""

    target: str
    state: str
    error: str | None = None
    result: Any = None


def record_results(
    doc: dict[str, Any], results: Sequence[TargetResult], now: int
) -> dict[str, Any]:
    """Record several targets' outcomes in one step (one copy of the document, not one per
    result: an action over 10,000 things gets its results in batches); the first result of
    a target is final; the last missing one makes the action ``done``."""
    if doc["state"] == DONE and all(item.target in doc["results"] for item in results):
        return doc  # a late repeat of results already recorded: nothing to do, no error
    _expect(doc, (EXECUTING,), "record a result of")
    targets = set(target_ids(doc))
    fresh: dict[str, dict[str, Any]] = {}
    for item in results:
        if item.state not in RESULT_STATES:
            raise BadRequest(
                f"result state must be one of {', '.join(RESULT_STATES)}",
                code="ERR_PAYLOAD_INVALID",
            )
        if item.target not in targets:
            raise BadRequest(
                f"{item.target!r} is not a target of this action", code="ERR_TARGET_INVALID"
            )
        if item.target in doc["results"] or item.target in fresh:
            continue
        entry: dict[str, Any] = {"state": item.state, "ts": now}
        if item.error is not None:
            entry["error"] = item.error
        if item.result is not None:
            entry["result"] = item.result
        fresh[item.target] = entry
    if not fresh:
        return doc
    new = {**doc, "results": {**doc["results"], **fresh}}
    new["updatedAt"] = max(now, doc["updatedAt"])
    if targets <= new["results"].keys():
        return finish(new, now)
    return new


def finish(doc: dict[str, Any], now: int) -> dict[str, Any]:
    """executing → done, once every target has a result."""
    _expect(doc, (EXECUTING,), "finish")
    missing = [t for t in target_ids(doc) if t not in doc["results"]]
    if missing:
        raise ActionStateInvalid(f"{len(missing)} target(s) have no result yet")
    return _moved(doc, DONE, now)


def _tally(doc: dict[str, Any]) -> dict[str, Any]:
    # Negatives first: an action that is both approved and vetoed is not run.
    pos, neg = vote_counts(doc)
    if neg >= doc["reqVotesNeg"]:
        doc["state"] = CANCELLED
    elif pos >= doc["reqVotesPos"]:
        doc["state"] = READY
    return doc


def _expect(doc: dict[str, Any], states: tuple[str, ...], what: str) -> None:
    if doc["state"] not in states:
        raise ActionStateInvalid(f"cannot {what} an action that is {doc['state']}")


def _moved(doc: dict[str, Any], state: str, now: int) -> dict[str, Any]:
    new = {**doc, "state": state}
    new["updatedAt"] = max(now, doc["updatedAt"])
    return new
