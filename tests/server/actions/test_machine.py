"""Pure action transitions: examples and a hypothesis state machine over random events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hashfleet.core.errors import HashfleetError
from hashfleet.server.actions import machine
from hashfleet.server.actions.model import (
    CANCELLED,
    DONE,
    EXECUTING,
    READY,
    STATE_RANK,
    VOTING,
    IdClock,
    rack_requirements,
    target_ids,
    vote_counts,
)

WRITER = ["*:rw"]
READER = ["*:r"]


def targets(pos: int = 1, neg: int = 1, n: int = 2) -> dict[str, Any]:
    calls = [{"id": f"m{i}", "type": "miner", "code": f"A-{i}"} for i in range(n)]
    return {
        "rack-a": {"calls": calls[:1], "reqVotesPos": 1, "reqVotesNeg": 1},
        "rack-b": {"calls": calls[1:], "reqVotesPos": pos, "reqVotesNeg": neg},
    }


def new(pos: int = 2, neg: int = 1, n: int = 2) -> dict[str, Any]:
    return machine.create(
        action_id=1,
        action="reboot",
        method="reboot",
        params=[],
        query={},
        targets=targets(pos, neg, n),
        creator="ann",
        now=100,
    )


def code(exc: pytest.ExceptionInfo[HashfleetError]) -> str:
    return exc.value.code


def test_create_takes_highest_thresholds_and_creator_vote() -> None:
    doc = new(pos=3, neg=2)
    assert (doc["reqVotesPos"], doc["reqVotesNeg"]) == (3, 2)
    assert doc["votes"] == {"ann": True} and doc["state"] == VOTING
    assert doc["requiredPerms"] == ["miner"]
    # reqVotesPos = 1: the creator's vote approves at once.
    assert new(pos=1)["state"] == READY


def test_vote_rules() -> None:
    doc = new(pos=2, neg=1)
    assert machine.vote(doc, "ann", True, WRITER, 101) is doc  # same vote again: no-op
    with pytest.raises(HashfleetError) as exc:
        machine.vote(doc, "ann", False, WRITER, 101)
    assert code(exc) == "ERR_ACTION_VOTE_CHANGED"
    with pytest.raises(HashfleetError) as exc:
        machine.vote(doc, "vic", True, READER, 101)
    assert code(exc) == "ERR_ACTION_DENIED"
    ready = machine.vote(doc, "bob", True, WRITER, 102)
    assert ready["state"] == READY and doc["state"] == VOTING  # the input is untouched
    assert machine.vote(ready, "bob", True, WRITER, 103) is ready  # a retried vote
    with pytest.raises(HashfleetError) as exc:
        machine.vote(ready, "cid", True, WRITER, 103)
    assert code(exc) == "ERR_ACTION_STATE_INVALID"
    assert machine.vote(doc, "bob", False, WRITER, 102)["state"] == CANCELLED


def test_cancel_start_results() -> None:
    doc = new(pos=1)
    with pytest.raises(HashfleetError) as exc:
        machine.cancel(doc, "bob", False, 101)
    assert code(exc) == "ERR_ACTION_CANCEL_DENIED"
    assert machine.cancel(doc, "bob", True, 101)["state"] == CANCELLED
    running = machine.start(doc, 101)
    with pytest.raises(HashfleetError) as exc:
        machine.cancel(running, "ann", False, 102)
    assert code(exc) == "ERR_ACTION_STATE_INVALID"
    with pytest.raises(HashfleetError) as exc:
        machine.finish(running, 102)
    assert code(exc) == "ERR_ACTION_STATE_INVALID"
    with pytest.raises(HashfleetError) as exc:
        machine.record_result(running, "nope", "completed", 102)
    assert code(exc) == "ERR_TARGET_INVALID"
    one = machine.record_result(running, "m0", "failed", 103, error="ERR_DEVICE_OFFLINE")
    assert one["state"] == EXECUTING
    assert one["results"]["m0"] == {"state": "failed", "error": "ERR_DEVICE_OFFLINE", "ts": 103}
    assert machine.record_result(one, "m0", "completed", 104) is one  # first result wins
    done = machine.record_result(one, "m1", "completed", 105, result={"ok": True})
    assert done["state"] == DONE and done["updatedAt"] == 105


def test_id_clock_never_repeats() -> None:
    ids = IdClock()
    assert [ids.next(5), ids.next(5), ids.next(5), ids.next(4), ids.next(100)] == [
        5,
        6,
        7,
        8,
        100,
    ]
    ids.seen(500)
    assert ids.next(100) == 501


def test_rack_requirements() -> None:
    info = {"actionVotes": {"*": {"reqVotesPos": 2}, "setPowerMode": {"reqVotesNeg": 3}}}
    assert rack_requirements(info, "reboot") == (2, 1)
    assert rack_requirements(info, "setPowerMode") == (2, 3)
    assert rack_requirements(info, "set_power_mode") == (2, 3)
    assert rack_requirements({}, "reboot", 4, 5) == (4, 5)
    bad = {"actionVotes": {"*": {"reqVotesPos": 0, "reqVotesNeg": "2"}}}
    assert rack_requirements(bad, "reboot") == (1, 1)


VOTERS = ["ann", "bob", "cid", "dan", "eve"]


class ActionMachine(RuleBasedStateMachine):
    """Random votes, cancels, starts and results on one action; the invariants hold."""

    def __init__(self) -> None:
        super().__init__()
        self.doc: dict[str, Any] | None = None
        self.now = 1000
        self.history: list[str] = []
        self.ever_executing = False
        self.was_cancelled = False

    @precondition(lambda self: self.doc is None)
    @rule(
        pos=st.integers(1, 4),
        neg=st.integers(1, 3),
        n=st.integers(1, 4),
    )
    def create(self, pos: int, neg: int, n: int) -> None:
        self.doc = new(pos, neg, n)
        self.history.append(self.doc["state"])

    def _apply(self, fn: Any, *args: Any) -> None:
        assert self.doc is not None
        before = self.doc
        self.now += 1
        try:
            after = fn(before, *args)
        except HashfleetError:
            return  # refused: nothing changed (the input is never mutated)
        self.doc = after
        if after["state"] != self.history[-1]:
            self.history.append(after["state"])

    @precondition(lambda self: self.doc is not None)
    @rule(voter=st.sampled_from(VOTERS), approve=st.booleans())
    def vote(self, voter: str, approve: bool) -> None:
        assert self.doc is not None
        prev = self.doc["votes"].get(voter)
        self._apply(machine.vote, voter, approve, WRITER, self.now)
        if prev is not None:
            assert self.doc["votes"][voter] == prev  # counted once, never flipped

    @precondition(lambda self: self.doc is not None)
    @rule(voter=st.sampled_from(VOTERS), approve=st.booleans())
    def denied_vote(self, voter: str, approve: bool) -> None:
        assert self.doc is not None
        before = self.doc
        with pytest.raises(HashfleetError) as exc:
            machine.vote(before, voter, approve, READER, self.now)
        assert exc.value.code == "ERR_ACTION_DENIED"
        assert self.doc is before and self.doc == before

    @precondition(lambda self: self.doc is not None)
    @rule(who=st.sampled_from(VOTERS), admin=st.booleans())
    def cancel(self, who: str, admin: bool) -> None:
        self._apply(machine.cancel, who, admin, self.now)

    @precondition(lambda self: self.doc is not None)
    @rule()
    def start(self) -> None:
        self._apply(machine.start, self.now)

    @precondition(lambda self: self.doc is not None)
    @rule(i=st.integers(0, 4), state=st.sampled_from(["completed", "failed", "denied"]))
    def result(self, i: int, state: str) -> None:
        self._apply(machine.record_result, f"m{i}", state, self.now)

    @precondition(lambda self: self.doc is not None)
    @rule()
    def finish(self) -> None:
        self._apply(machine.finish, self.now)

    @invariant()
    def forward_only(self) -> None:
        ranks = [STATE_RANK[s] for s in self.history]
        assert ranks == sorted(ranks)
        assert len(set(self.history)) == len(self.history)
        # cancelled only after voting/ready, and nothing after it.
        if CANCELLED in self.history:
            assert self.history[-1] == CANCELLED
            assert EXECUTING not in self.history

    @invariant()
    def done_iff_all_results(self) -> None:
        if self.doc is None:
            return
        complete = all(t in self.doc["results"] for t in target_ids(self.doc))
        assert (self.doc["state"] == DONE) == (complete and bool(self.doc["results"]))
        if self.doc["state"] not in (EXECUTING, DONE):
            assert self.doc["results"] == {}

    @invariant()
    def tally_consistent(self) -> None:
        if self.doc is None:
            return
        pos, neg = vote_counts(self.doc)
        assert self.doc["votes"]["ann"] is True
        if self.history[-1] == VOTING:
            assert pos < self.doc["reqVotesPos"] and neg < self.doc["reqVotesNeg"]
        if neg >= self.doc["reqVotesNeg"] and READY not in self.history:
            assert self.doc["state"] == CANCELLED


ActionMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestActionMachine = ActionMachine.TestCase


RESULT_ITEMS = st.lists(
    st.tuples(st.sampled_from([f"m{i}" for i in range(5)]),
              st.sampled_from(["completed", "failed", "denied"])),
    max_size=12,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(RESULT_ITEMS)
def test_a_batch_of_results_is_the_same_as_one_by_one(items: list[tuple[str, str]]) -> None:
    running = machine.start(new(pos=1, n=5), 101)
    one_by_one = running
    for target, state in items:
        one_by_one = machine.record_result(one_by_one, target, state, 200)
    batched = machine.record_results(running, [machine.TargetResult(t, s) for t, s in items], 200)
    assert batched == one_by_one
    assert (batched["state"] == DONE) == (len({t for t, _ in items}) == 5)
