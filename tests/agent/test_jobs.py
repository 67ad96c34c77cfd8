"""The agent's job runner: the journal, driver calls against a simulated Antminer, and the
whole loop with a real server — each job runs at most once, whatever happens to answers.

Addresses: 127.92.0.x.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from hashfleet.agent.jobs import (
    ERR_CAPABILITY_UNSUPPORTED,
    ERR_JOB_INTERRUPTED,
    ERR_PARAMS_INVALID,
    ERR_THING_NOTFOUND,
    JobRunner,
    Journal,
    run_job,
)
from hashfleet.agent.runner import Agent
from hashfleet.server.auth.principal import Principal
from hashfleet.server.store import jobs as job_store
from hashfleet.sim.antminer import AntminerSim
from hashfleet.wire.messages import AgentJob, AgentThing, JobResult
from tests.support.live_server import LiveServer

WAIT = 10.0
OPERATOR = Principal(kind="user", name="ann", role="operator")


@contextlib.asynccontextmanager
async def antminer(n: int) -> AsyncIterator[AntminerSim]:
    sim = AntminerSim(f"127.92.0.{n}", seed=n)
    await asyncio.wait_for(sim.start(), WAIT)
    try:
        yield sim
    finally:
        await asyncio.wait_for(sim.stop(), WAIT)


def thing_of(sim: AntminerSim, thing_id: str = "m1") -> AgentThing:
    opts = {"family": "antminer", "address": sim.address, "timeout": 2, "params": {"web": False}}
    return AgentThing(id=thing_id, code=thing_id, type="miner", opts=opts)


def job(job_id: int, method: str, *params: Any, thing_id: str = "m1") -> AgentJob:
    return AgentJob(id=job_id, action_id=1, thing_id=thing_id, method=method, params=list(params))


async def wait_until(predicate: Callable[[], bool], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- the journal ------------------------------------------------------------------------------


def test_a_job_id_starts_once_and_results_wait_for_their_ack(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.db")
    assert journal.start(7) and not journal.start(7)
    assert journal.unreported() == []
    journal.finish(JobResult(id=7, ok=True, result={"x": 1}))
    assert journal.unreported() == [JobResult(id=7, ok=True, result={"x": 1})]
    journal.reported([7])
    assert journal.unreported() == [] and journal.state(7) == "finished"
    journal.resend(7)  # offered again: the server lost the result
    assert [r.id for r in journal.unreported()] == [7]
    journal.close()


def test_a_job_running_when_the_agent_stopped_is_never_run_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.db")
    assert journal.start(9)
    journal.close()  # the agent dies mid-call
    journal = Journal(tmp_path / "jobs.db")
    [result] = journal.unreported()
    assert result.id == 9 and not result.ok and result.error == ERR_JOB_INTERRUPTED
    assert not journal.start(9)
    journal.close()


# -- one driver call --------------------------------------------------------------------------


async def test_run_job_against_a_simulated_antminer() -> None:
    async with antminer(1) as sim:
        thing = thing_of(sim)
        done = await run_job(thing, job(1, "reboot"), timeout_s=WAIT)
        assert done == JobResult(id=1, ok=True, result=None)
        assert sim.reboots == 1
        unsupported = await run_job(thing, job(2, "set_frequency", 500), timeout_s=WAIT)
        assert unsupported.error == ERR_CAPABILITY_UNSUPPORTED
        bad = await run_job(thing, job(3, "set_power_mode", "turbo"), timeout_s=WAIT)
        assert bad.error == ERR_PARAMS_INVALID
        too_many = await run_job(thing, job(4, "reboot", 1), timeout_s=WAIT)
        assert too_many.error == ERR_PARAMS_INVALID
    gone = await run_job(thing, job(5, "reboot"), timeout_s=WAIT)
    assert gone.error == "ERR_DEVICE_OFFLINE"
    assert (await run_job(None, job(6, "reboot"), timeout_s=WAIT)).error == ERR_THING_NOTFOUND
    assert sim.reboots == 1


# -- with a real server -----------------------------------------------------------------------


async def test_jobs_reach_the_device_once_even_when_an_offer_is_lost(
    live_server: LiveServer, job_rack: dict[str, Any], tmp_path: Path
) -> None:
    state = live_server.state
    assert state is not None
    state.jobs.reoffer_after_ms = 300
    async with antminer(2) as sim, aiohttp.ClientSession(headers=job_rack["headers"]) as session:
        thing = thing_of(sim)
        call = {"rack_id": "r1", "thing_id": "m1", "method": "reboot", "params": []}
        live_server.call(state.jobs.submit(1, [call]))
        # The first offer's answer never reaches the agent (taken here and dropped).
        assert [j.id for j in live_server.call(state.jobs.offer("r1"))] != []
        journal = Journal(tmp_path / "jobs.db")
        runner = JobRunner(
            journal, live_server.url, lambda i: thing if i == "m1" else None,
            wait_s=0.5, retry_s=0.1,
        )  # fmt: skip
        task = asyncio.create_task(runner.run(session))
        try:
            await wait_until(lambda: len(job_rack["ended"]) == 1)
            [row] = live_server.call(job_store.jobs_of_action(state.engine, 1))
            assert row["state"] == job_store.DONE and row["attempts"] == 2
            assert sim.reboots == 1 and runner.ran == 1

            # Set-up for a lost report: the job ran and its result was acknowledged, then
            # the server offers it again (as after a lost answer). Nothing runs twice.
            live_server.call(state.jobs.submit(2, [call]))
            await wait_until(lambda: len(job_rack["ended"]) == 2)
            assert sim.reboots == 2 and runner.ran == 2
            [again] = live_server.call(job_store.jobs_of_action(state.engine, 2))
            runner._take(job(again["id"], "reboot"))
            await asyncio.sleep(0.3)
            assert journal.unreported() == []  # re-sent and acknowledged again
            assert sim.reboots == 2 and runner.ran == 2 and len(job_rack["ended"]) == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            journal.close()
    assert job_rack["ended"][0]["state"] == job_store.DONE


# -- rackReboot: the agent restarts itself ------------------------------------------------------


async def test_a_restart_job_is_reported_before_the_restart_and_never_repeated(
    live_server: LiveServer, job_rack: dict[str, Any], tmp_path: Path
) -> None:
    state = live_server.state
    assert state is not None
    restarts: list[tuple[list[str], list[JobResult]]] = []
    journal = Journal(tmp_path / "jobs.db")

    def on_restart() -> None:
        # By now the server has the result, and the agent knows it has.
        restarts.append(([row["state"] for row in job_rack["ended"]], journal.unreported()))

    call = {"rack_id": "r1", "thing_id": "rack:r1", "method": "restart_agent", "params": []}
    live_server.call(state.jobs.submit(1, [call]))
    async with aiohttp.ClientSession(headers=job_rack["headers"]) as session:
        runner = JobRunner(
            journal, live_server.url, lambda i: None, wait_s=0.5, retry_s=0.1,
            on_restart=on_restart,
        )  # fmt: skip
        task = asyncio.create_task(runner.run(session))
        try:
            await wait_until(lambda: bool(restarts))
            assert restarts == [([job_store.DONE], [])]
            assert runner.restarting and runner.ran == 0  # no driver call
            [row] = live_server.call(job_store.jobs_of_action(state.engine, 1))
            assert row["state"] == job_store.DONE and row["result"] == {"restarting": True}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        journal.close()

        # The restarted agent is offered the job again (as after a lost answer): its
        # journal re-sends the result, and it does not restart again.
        journal = Journal(tmp_path / "jobs.db")
        runner = JobRunner(
            journal, live_server.url, lambda i: None, wait_s=0.5, retry_s=0.1,
            on_restart=on_restart,
        )  # fmt: skip
        task = asyncio.create_task(runner.run(session))
        try:
            runner._take(job(row["id"], "restart_agent", thing_id="rack:r1"))
            await asyncio.sleep(0.3)
            assert journal.unreported() == [] and journal.state(row["id"]) == "finished"
            assert len(restarts) == 1 and not runner.restarting
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            journal.close()


async def test_a_restart_job_fails_on_an_agent_that_cannot_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.db")
    runner = JobRunner(journal, "http://127.0.0.1:9", lambda i: None)
    runner._take(job(4, "restart_agent", thing_id="rack:r1"))
    [result] = journal.unreported()
    assert not result.ok and result.error == ERR_CAPABILITY_UNSUPPORTED
    journal.close()


async def test_pushing_rack_reboot_restarts_the_agent_once(
    live_server: LiveServer, tmp_path: Path
) -> None:
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    token = live_server.call(state.auth.create_rack_token("r1"))
    journal = Journal(tmp_path / "jobs.db")
    restarts: list[int] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        runner = JobRunner(
            journal, live_server.url, lambda i: None, wait_s=0.5, retry_s=0.1,
            on_restart=lambda: restarts.append(1),
        )  # fmt: skip
        task = asyncio.create_task(runner.run(session))
        try:
            pushed = live_server.call(
                state.actions.push(OPERATOR, None, "rackReboot", [{"rackId": "r1"}])
            )

            def done() -> bool:
                doc = live_server.call(state.actions.get(pushed["id"]))
                return doc is not None and doc["state"] == "done"

            await wait_until(done)
            await wait_until(lambda: bool(restarts))
            await asyncio.sleep(0.3)  # nothing more comes
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            journal.close()
    doc = live_server.call(state.actions.get(pushed["id"]))
    assert doc is not None
    assert {t: r["state"] for t, r in doc["results"].items()} == {"r1": "completed"}
    assert restarts == [1]


async def test_rack_reboot_stops_the_agent_gracefully_for_its_restart(
    live_server: LiveServer, tmp_path: Path
) -> None:
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    token = live_server.call(state.auth.create_rack_token("r1"))
    agent = Agent(live_server.url, token, tmp_path / "agent", refresh_s=0.5)
    task = asyncio.create_task(agent.run())
    try:
        await wait_until(lambda: agent.config is not None)
        pushed = live_server.call(
            state.actions.push(OPERATOR, None, "rackReboot", [{"rackId": "r1"}])
        )
        await asyncio.wait_for(task, 20)  # run() returns by itself
        assert agent.restart_requested
        doc = live_server.call(state.actions.get(pushed["id"]))
        assert doc is not None and doc["state"] == "done"
        assert doc["results"]["r1"]["state"] == "completed"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        agent.close()
