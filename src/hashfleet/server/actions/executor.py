"""Runs approved actions: device calls go to the agents' job queue, rack actions to the
registry, and every target's outcome comes back to the action.

An action that is ``ready`` is moved to ``executing`` first (so it can never be handed out
twice), then one job per target thing is queued durably (``server/jobs``). Each job that
ends — done on the device, failed there, or expired — becomes the target's result; the
last result makes the action ``done``. After a restart, the executing actions are queued
again (a queued job is never duplicated) and results that ended while the server was down
are picked up from the queue.

``rackReboot`` is a rack action the rack's agent runs: one job with ``thing_id``
``rack:<rackId>`` and method ``restart_agent``; its end is recorded under the rack id.
"""

from __future__ import annotations

import logging
from typing import Any

from hashfleet.core.errors import HashfleetError
from hashfleet.server.actions.machine import TargetResult
from hashfleet.server.actions.model import (
    AGENT_RACK_ACTIONS,
    COMPLETED,
    EXECUTING,
    FAILED,
    RACK_ACTIONS,
    RACK_JOB_PREFIX,
    rack_job_thing,
    target_ids,
)
from hashfleet.server.actions.service import ActionService
from hashfleet.server.jobs.dispatcher import JobDispatcher
from hashfleet.server.registry import Registry
from hashfleet.server.store import jobs as job_store

log = logging.getLogger(__name__)

ERR_ACTION_INTERRUPTED = "ERR_ACTION_INTERRUPTED"


class ActionExecutor:
    """The executor plugged into :class:`ActionService`."""

    def __init__(self, actions: ActionService, jobs: JobDispatcher, registry: Registry) -> None:
        self.actions = actions
        self.jobs = jobs
        self.registry = registry
        jobs.on_results = self.jobs_ended

    async def __call__(self, doc: dict[str, Any]) -> None:
        """Execute a ready action."""
        started = await self.actions.start_execution(int(doc["id"]))
        if _in_server(started):
            await self._run_rack_action(started)
        else:
            await self.jobs.submit(int(started["id"]), _calls(started))

    async def jobs_ended(self, jobs: list[dict[str, Any]]) -> None:
        """Each job's end is its target's result: one transition per action and batch."""
        by_action: dict[int, list[TargetResult]] = {}
        for job in jobs:
            state = COMPLETED if job["state"] == job_store.DONE else FAILED
            target = str(job["thing_id"])
            if job["method"] in AGENT_RACK_ACTIONS.values() and target.startswith(RACK_JOB_PREFIX):
                target = target.removeprefix(RACK_JOB_PREFIX)  # the action's target: the rack
            by_action.setdefault(int(job["action_id"]), []).append(
                TargetResult(target, state, job.get("error"), job.get("result"))
            )
        for action_id, results in by_action.items():
            try:
                await self.actions.record_results(action_id, results)
            except HashfleetError as exc:
                # The action is gone or no longer executing (cancelled by an admin while
                # its jobs ran): the jobs' own rows keep what happened.
                log.warning("%d job results of action %s: %s", len(results), action_id, exc.message)

    async def recover(self) -> None:
        """After a restart: queue executing actions again and take results that came."""
        for doc in self.actions.open_actions():
            if doc["state"] != EXECUTING:
                continue
            action_id = int(doc["id"])
            if _in_server(doc):
                # A rack action runs in the server: if it was running at the crash, nobody
                # knows whether it took effect. Say so rather than run it twice.
                for target in target_ids(doc):
                    if target not in doc["results"]:
                        await self.actions.record_result(
                            action_id, target, FAILED, error=ERR_ACTION_INTERRUPTED
                        )
                continue
            await self.jobs.submit(action_id, _calls(doc))
            ended = await job_store.jobs_of_action(self.jobs.engine, action_id)
            await self.jobs_ended([j for j in ended if j["state"] not in job_store.OPEN_STATES])

    async def _run_rack_action(self, doc: dict[str, Any]) -> None:
        action_id = int(doc["id"])
        first = dict(doc["params"][0])
        user = str(doc.get("creator") or "") or None
        for target in target_ids(doc):
            try:
                if doc["action"] == "registerThing":
                    ids = await self.registry.register_things([first], user=user)
                    result: Any = {"ids": ids}
                elif doc["action"] == "updateThing":
                    result = await self.registry.update_thing(first, user=user)
                else:
                    result = await self.registry.forget_things({"ids": [target]}, user=user)
            except HashfleetError as exc:
                await self.actions.record_result(
                    action_id, target, FAILED, error=f"{exc.code}: {exc.message}"
                )
                continue
            await self.actions.record_result(action_id, target, COMPLETED, result=result)


def _in_server(doc: dict[str, Any]) -> bool:
    """Whether an action runs in the server's registry (not through the agents' queue)."""
    return doc["action"] in RACK_ACTIONS and doc["action"] not in AGENT_RACK_ACTIONS


def _calls(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One job per target thing: the driver method and the action's parameters.

    An agent-run rack action (``rackReboot``) is one job per rack, for the agent itself:
    ``thing_id`` ``rack:<rackId>`` (unique per action), its own method, no parameters.
    """
    agent_method = AGENT_RACK_ACTIONS.get(doc["action"])
    if agent_method is not None:
        return [
            {"rack_id": rack_id, "thing_id": rack_job_thing(rack_id), "method": agent_method,
             "params": []}
            for rack_id in doc["targets"]
        ]  # fmt: skip
    return [
        {
            "rack_id": rack_id,
            "thing_id": call["id"],
            "method": doc["method"],
            "params": list(doc["params"]),
        }
        for rack_id, target in doc["targets"].items()
        for call in target["calls"]
    ]
