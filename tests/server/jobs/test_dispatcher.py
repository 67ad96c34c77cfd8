"""The job dispatcher through the agent routes: rack-bound, first result wins, long polls
wake on new jobs, jobs without a result expire."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from hashfleet.core.clock import now_ms
from hashfleet.server.store import jobs as job_store
from tests.support.live_server import LiveServer


async def test_results_are_first_come_and_rack_bound(
    live_server: LiveServer, job_rack: dict[str, Any]
) -> None:
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r2", "miner", {}))
    other = live_server.call(state.auth.create_rack_token("r2"))
    call = {"rack_id": "r1", "thing_id": "m1", "method": "reboot", "params": []}
    live_server.call(state.jobs.submit(3, [call]))
    async with aiohttp.ClientSession() as session:
        url = f"{live_server.url}/api/agent/jobs"
        async with session.get(url, headers={"Authorization": f"Bearer {other}"}) as resp:
            assert (await resp.json()) == {"jobs": []}  # another rack sees nothing
        async with session.get(url, headers=job_rack["headers"]) as resp:
            [offered] = (await resp.json())["jobs"]
        results = f"{live_server.url}/api/agent/jobs/results"
        fail = {"results": [{"id": offered["id"], "ok": False, "error": "ERR_DEVICE_OFFLINE"}]}
        async with session.post(
            results, json=fail, headers={"Authorization": f"Bearer {other}"}
        ) as resp:
            assert resp.status == 200
        assert job_rack["ended"] == []  # another rack cannot end this rack's job
        for body in (fail, {"results": [{"id": offered["id"], "ok": True}]}):
            async with session.post(results, json=body, headers=job_rack["headers"]) as resp:
                assert (await resp.json()) == {"acked": [offered["id"]]}
        async with session.post(results, json={"results": "x"}, headers=job_rack["headers"]) as r:
            assert r.status == 400
    [row] = job_rack["ended"]  # the first result counts, the second changes nothing
    assert row["state"] == job_store.FAILED and row["error"] == "ERR_DEVICE_OFFLINE"


async def test_a_long_poll_wakes_when_a_job_comes(
    live_server: LiveServer, job_rack: dict[str, Any]
) -> None:
    state = live_server.state
    assert state is not None
    async with aiohttp.ClientSession(headers=job_rack["headers"]) as session:
        url = f"{live_server.url}/api/agent/jobs?wait=20"
        loop = asyncio.get_running_loop()
        started = loop.time()
        poll = asyncio.create_task(session.get(url))
        await asyncio.sleep(0.3)
        call = {"rack_id": "r1", "thing_id": "m1", "method": "reboot", "params": []}
        await asyncio.to_thread(live_server.call, state.jobs.submit(4, [call]))
        resp = await poll
        jobs = (await resp.json())["jobs"]
        resp.release()
    assert [j["action_id"] for j in jobs] == [4]
    assert loop.time() - started < 10  # woken, not timed out


async def test_jobs_without_a_result_expire(
    live_server: LiveServer, job_rack: dict[str, Any]
) -> None:
    state = live_server.state
    assert state is not None
    call = {"rack_id": "r1", "thing_id": "m1", "method": "reboot", "params": []}
    live_server.call(state.jobs.submit(5, [call]))
    assert live_server.call(state.jobs.expire(now_ms() + 2 * state.jobs.ttl_ms)) == 1
    [row] = job_rack["ended"]
    assert row["state"] == job_store.FAILED and row["error"] == "ERR_JOB_EXPIRED"
