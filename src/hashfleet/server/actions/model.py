"""The action document, as the seed's getAction returns it, and its vocabulary.

An action is a plain JSON object (it is stored whole in ``actions.doc`` and sent as it is)::

    {
      "id": 1692277886841,            # ms-based, unique, never reused
      "action": "reboot",             # the name as submitted (seed camelCase or snake_case)
      "method": "reboot",             # the driver capability / rack method it runs as
      "params": [],
      "query": {...},
      "targets": {"rack-a": {"calls": [{"id": "m0", "type": "miner", "code": "A-0"}],
                             "reqVotesPos": 2, "reqVotesNeg": 1}},
      "requiredPerms": ["miner"],
      "votes": {"ann": true},
      "reqVotesPos": 2, "reqVotesNeg": 1,   # the highest among the racks involved
      "state": "voting",              # voting | ready | executing | done | cancelled
      "batchActionUID": null,         # "{timestamp}-{uid}" for pushActionsBatch
      "creator": "ann",
      "createdAt": ..., "updatedAt": ...,
      "results": {"m0": {"state": "completed", "result": ..., "ts": ...}},
    }
"""

from __future__ import annotations

import re
from typing import Any

from hashfleet.wire.messages import RESTART_AGENT

VOTING = "voting"
READY = "ready"
EXECUTING = "executing"
DONE = "done"
CANCELLED = "cancelled"
STATES = (VOTING, READY, EXECUTING, DONE, CANCELLED)
OPEN_STATES = (VOTING, READY, EXECUTING)
FINAL_STATES = (DONE, CANCELLED)
# Progress of an action; cancelled is terminal and may only follow voting or ready.
STATE_RANK = {VOTING: 0, READY: 1, EXECUTING: 2, DONE: 3, CANCELLED: 3}

# What happened on one target.
COMPLETED = "completed"
FAILED = "failed"
DENIED = "denied"
RESULT_STATES = (COMPLETED, FAILED, DENIED)

# Actions on a rack rather than on its devices (the seed's "rack actions"): the first three
# change the rack's registry (run in the server), ``rackReboot`` restarts the rack's agent.
RACK_ACTIONS = ("registerThing", "updateThing", "forgetThings", "rackReboot")
# Rack actions the rack's agent runs, through the job queue, as this job method; the job's
# ``thing_id`` is ``RACK_JOB_PREFIX + rack id`` (see :func:`rack_job_thing`).
AGENT_RACK_ACTIONS = {"rackReboot": RESTART_AGENT}
RACK_JOB_PREFIX = "rack:"

# Server defaults when no rack asks for more (docs/ACTIONS.md, "Vote thresholds").
DEFAULT_REQ_VOTES_POS = 1
DEFAULT_REQ_VOTES_NEG = 1
# A rack cannot demand more votes than a fleet could reasonably gather.
MAX_REQ_VOTES = 100

ACTION_NAME_MAX = 64  # the width of actions.action

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def method_name(action: str) -> str:
    """The capability an action name runs as: ``setPowerMode`` → ``set_power_mode``.

    Seed clients send camelCase names, the drivers' ``CAPABILITIES`` are snake_case; both
    spellings are accepted. Rack actions keep their name.
    """
    if action in RACK_ACTIONS:
        return action
    return _CAMEL.sub("_", action).lower()


def target_ids(doc: dict[str, Any]) -> list[str]:
    """The ids of every call of an action (things, or racks for registerThing, rackReboot)."""
    return [call["id"] for rack in doc["targets"].values() for call in rack["calls"]]


def rack_job_thing(rack_id: str) -> str:
    """The job ``thing_id`` of an agent-run rack action on ``rack_id``: ``rack:<id>``."""
    return RACK_JOB_PREFIX + rack_id


class IdClock:
    """Action ids: the creation time in ms, bumped so that no id is ever issued twice.

    Two actions in the same millisecond get ``t`` and ``t + 1``; a clock that steps back
    never makes an id repeat. ``seen`` (the highest id in the store) carries this across
    restarts.
    """

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def seen(self, action_id: int) -> None:
        """Never issue ``action_id`` or anything below it."""
        self.last = max(self.last, action_id)

    def next(self, now: int) -> int:
        """A fresh id, ``now`` unless that (or a later one) was already issued."""
        self.last = max(now, self.last + 1)
        return self.last


def vote_counts(doc: dict[str, Any]) -> tuple[int, int]:
    """(positive, negative) votes of an action."""
    votes = doc["votes"].values()
    pos = sum(1 for v in votes if v)
    return pos, len(doc["votes"]) - pos


def rack_requirements(
    info: Any,
    action: str,
    default_pos: int = DEFAULT_REQ_VOTES_POS,
    default_neg: int = DEFAULT_REQ_VOTES_NEG,
) -> tuple[int, int]:
    """(reqVotesPos, reqVotesNeg) a rack asks for ``action``.

    ``info.actionVotes = {"*": {"reqVotesPos": 2}, "reboot": {"reqVotesPos": 3}}``: the
    entry named after the action (seed spelling or capability name) wins over ``"*"``, key
    by key, over the server's defaults. A value that is not an integer in
    ``1..MAX_REQ_VOTES`` is ignored, so a typo in a rack's info cannot make an action
    unapprovable or approve it with no vote.
    """
    pos, neg = default_pos, default_neg
    table = info.get("actionVotes") if isinstance(info, dict) else None
    if not isinstance(table, dict):
        return pos, neg
    method = method_name(action)
    # "*" first, then the action's own entries (either spelling) override it.
    keys = ["*"] + [
        k for k in table if k != "*" and isinstance(k, str) and method_name(k) == method
    ]
    for key in keys:
        entry = table.get(key)
        if not isinstance(entry, dict):
            continue
        pos = _votes(entry.get("reqVotesPos"), pos)
        neg = _votes(entry.get("reqVotesNeg"), neg)
    return pos, neg


def _votes(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value if 1 <= value <= MAX_REQ_VOTES else default
