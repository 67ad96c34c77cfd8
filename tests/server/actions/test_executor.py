"""The executor: an approved action becomes jobs, job results become target results, rack
actions run in the registry, and a restart recovers what was executing.

The device path runs end to end (pushAction → agent JobRunner → simulated Antminers);
addresses 127.94.0.x.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.agent.jobs import JobRunner, Journal
from hashfleet.core.clock import now_ms
from hashfleet.server.actions.executor import ERR_ACTION_INTERRUPTED, ActionExecutor
from hashfleet.server.actions.service import ActionService
from hashfleet.server.auth.principal import Principal
from hashfleet.server.jobs.dispatcher import JobDispatcher
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import Registry
from hashfleet.server.store import jobs as job_store
from hashfleet.server.store.changes import list_changes
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.sim.antminer import AntminerSim
from hashfleet.wire.messages import AgentThing, JobResult
from tests.support.live_server import LiveServer

ANN = Principal(kind="user", name="ann", role="operator")
BOB = Principal(kind="user", name="bob", role="operator")
WAIT = 10.0


async def wait_until(predicate: Callable[[], bool], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_reboot_of_three_miners_runs_on_the_devices(
    live_server: LiveServer, tmp_path: Path
) -> None:
    state = live_server.state
    assert state is not None
    sims = [AntminerSim(f"127.94.0.{i + 1}", seed=i) for i in range(3)]
    for sim in sims:
        await asyncio.wait_for(sim.start(), WAIT)
    things = {
        f"m{i}": AgentThing(
            id=f"m{i}", code=f"M-{i}", type="miner",
            opts={"family": "antminer", "address": sim.address, "timeout": 2,
                  "params": {"web": False}},
        )
        for i, sim in enumerate(sims)
    }  # fmt: skip
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    live_server.call(
        state.registry.register_things(
            [{"rack": "r1", "id": t.id, "code": t.code, "opts": t.opts} for t in things.values()]
        )
    )
    token = live_server.call(state.auth.create_rack_token("r1"))
    journal = Journal(tmp_path / "jobs.db")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            runner = JobRunner(journal, live_server.url, things.get, wait_s=0.5, retry_s=0.1)
            task = asyncio.create_task(runner.run(session))
            try:
                pushed = live_server.call(
                    state.actions.push(ANN, {"tags": {"$in": ["t-miner"]}}, "reboot", [])
                )
                action_id = pushed["id"]

                def done() -> bool:
                    doc = live_server.call(state.actions.get(action_id))
                    return doc is not None and doc["state"] == "done"

                await wait_until(done)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        doc = live_server.call(state.actions.get(action_id))
        assert doc is not None
        assert {t: r["state"] for t, r in doc["results"].items()} == {
            "m0": "completed", "m1": "completed", "m2": "completed",
        }  # fmt: skip
        assert [sim.reboots for sim in sims] == [1, 1, 1] and runner.ran == 3
    finally:
        journal.close()
        for sim in sims:
            await asyncio.wait_for(sim.stop(), WAIT)


async def test_a_rack_action_runs_in_the_registry_as_its_creator(live_server: LiveServer) -> None:
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    opts = {"family": "antminer", "address": "127.94.1.1"}
    live_server.call(state.registry.register_things([{"rack": "r1", "id": "m9", "opts": opts}]))
    params = [{"rackId": "r1", "id": "m9", "info": {"pos": "B-7"}}]
    pushed = live_server.call(state.actions.push(ANN, None, "updateThing", params))
    for _ in range(200):
        doc = live_server.call(state.actions.get(pushed["id"]))
        if doc is not None and doc["state"] == "done":
            break
        await asyncio.sleep(0.05)
    assert doc is not None and doc["results"]["m9"]["state"] == "completed"
    assert state.live.things["m9"]["info"] == {"pos": "B-7"}
    [change, _registered] = live_server.call(list_changes(state.engine))
    assert change["user"] == "ann" and change["action"] == "update"


@pytest.fixture
async def engine(db_url: str) -> Any:
    eng = create_engine(db_url)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


async def parts(engine: AsyncEngine) -> tuple[ActionService, JobDispatcher, ActionExecutor]:
    """A server's action parts, as after a start (no executor plugged in yet)."""
    live = LiveIndex()
    registry = Registry(engine, live)
    await registry.load()
    actions = ActionService(engine, live, registry)
    await actions.load()
    jobs = JobDispatcher(engine)
    await jobs.load()
    return actions, jobs, ActionExecutor(actions, jobs, registry)


async def test_a_restart_recovers_executing_actions(engine: AsyncEngine) -> None:
    actions, _jobs, executor = await parts(engine)
    await actions.registry.register_rack("r1", "miner", {})
    opts = {"family": "antminer", "address": "127.94.2.1"}
    await actions.registry.register_things(
        [{"rack": "r1", "id": f"m{i}", "opts": opts | {"port": 4000 + i}} for i in range(2)]
    )
    device = await actions.push(ANN, {"id": {"$in": ["m0", "m1"]}}, "reboot", [])
    rack = await actions.push(ANN, None, "updateThing", [{"rackId": "r1", "id": "m0"}])
    actions.start()  # no executor: both stay ready
    await executor(device["data"])  # queued, then the server dies before any result
    await actions.start_execution(rack["id"])  # died while running a rack action
    [m0_job, _] = await job_store.jobs_of_action(engine, device["id"])
    await job_store.finish_job(engine, m0_job["id"], "r1", job_store.DONE, None, None, now_ms())

    actions, _jobs, executor = await parts(engine)  # the restart
    await executor.recover()
    device_doc = await actions.get(device["id"])
    rack_doc = await actions.get(rack["id"])
    assert device_doc is not None and rack_doc is not None
    assert device_doc["state"] == "executing"
    assert device_doc["results"]["m0"]["state"] == "completed"  # ended while down
    assert "m1" not in device_doc["results"]  # still queued, exactly once
    assert len(await job_store.jobs_of_action(engine, device["id"])) == 2
    assert rack_doc["state"] == "done"
    assert rack_doc["results"]["m0"] == {
        "state": "failed", "error": ERR_ACTION_INTERRUPTED, "ts": rack_doc["results"]["m0"]["ts"]
    }  # fmt: skip


async def test_a_rack_reboot_is_voted_then_one_agent_job_recorded_under_the_rack(
    engine: AsyncEngine,
) -> None:
    actions, jobs, executor = await parts(engine)
    votes = {"actionVotes": {"rackReboot": {"reqVotesPos": 2}}}
    await actions.registry.register_rack("r1", "miner", votes)
    pushed = await actions.push(ANN, None, "rackReboot", [{"rackId": "r1"}])
    doc = pushed["data"]
    assert doc["state"] == "voting" and doc["requiredPerms"] == ["miner"]
    assert doc["targets"]["r1"]["calls"] == [{"id": "r1", "type": "miner", "rack": "r1"}]
    await actions.vote(BOB, pushed["id"], True)
    ready = await actions.get(pushed["id"])
    assert ready is not None and ready["state"] == "ready"
    await executor(ready)
    [row] = await job_store.jobs_of_action(engine, pushed["id"])
    assert (row["rack_id"], row["thing_id"], row["method"], row["params"]) == (
        "r1", "rack:r1", "restart_agent", [],
    )  # fmt: skip
    [offered] = await jobs.offer("r1")
    assert (offered.thing_id, offered.method) == ("rack:r1", "restart_agent")
    await jobs.report("r1", [JobResult(id=offered.id, ok=True, result={"restarting": True})])
    done = await actions.get(pushed["id"])
    assert done is not None and done["state"] == "done"
    assert done["results"]["r1"]["state"] == "completed"
    assert done["results"]["r1"]["result"] == {"restarting": True}


async def test_a_rack_reboot_executing_at_a_restart_stays_queued_once(engine: AsyncEngine) -> None:
    actions, _jobs, executor = await parts(engine)
    await actions.registry.register_rack("r1", "miner", {})
    pushed = await actions.push(ANN, None, "rackReboot", [{"rackId": "r1"}])
    await executor(pushed["data"])  # queued; the server dies before the agent asks

    actions, _jobs, executor = await parts(engine)  # the restart
    await executor.recover()
    doc = await actions.get(pushed["id"])
    assert doc is not None and doc["state"] == "executing" and doc["results"] == {}
    [row] = await job_store.jobs_of_action(engine, pushed["id"])  # not interrupted, not twice
    assert row["thing_id"] == "rack:r1" and row["state"] == job_store.QUEUED
