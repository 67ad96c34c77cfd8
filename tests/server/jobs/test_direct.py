"""queryThing and applyThings through a real agent JobRunner to simulated Antminers:
permission-checked, capability-checked, run once, answered with the device's outcome.

Addresses: 127.95.0.x.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from hashfleet.agent.jobs import JobRunner, Journal
from hashfleet.sim.antminer import AntminerSim
from hashfleet.wire.messages import AgentThing
from tests.support.live_server import LiveServer

WAIT = 10.0


@contextlib.asynccontextmanager
async def fleet(server: LiveServer, tmp_path: Path, n: int = 2) -> AsyncIterator[list[AntminerSim]]:
    """``n`` simulated Antminers as things m0…, rack r1, and its agent's job runner."""
    state = server.state
    assert state is not None
    sims = [AntminerSim(f"127.95.0.{i + 1}", seed=i) for i in range(n)]
    for sim in sims:
        await asyncio.wait_for(sim.start(), WAIT)
    things = {
        f"m{i}": AgentThing(id=f"m{i}", code=f"M-{i}", type="miner", opts={
            "family": "antminer", "address": sim.address, "timeout": 2, "params": {"web": False}})
        for i, sim in enumerate(sims)
    }  # fmt: skip
    server.call(state.registry.register_rack("r1", "miner", {}))
    server.call(
        state.registry.register_things(
            [{"rack": "r1", "id": t.id, "code": t.code, "opts": t.opts} for t in things.values()]
        )
    )
    token = server.call(state.auth.create_rack_token("r1"))
    journal = Journal(tmp_path / "jobs.db")
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
    runner = JobRunner(journal, server.url, things.get, wait_s=0.3, retry_s=0.1)
    task = asyncio.create_task(runner.run(session))
    try:
        yield sims
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await session.close()
        journal.close()
        for sim in sims:
            await asyncio.wait_for(sim.stop(), WAIT)


async def rpc(server: LiveServer, method: str, body: Any, headers: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            f"{server.url}/rpc/{method}", json=body, headers=headers or server.headers
        )


async def test_query_thing_runs_the_control_once(live_server: LiveServer, tmp_path: Path) -> None:
    async with fleet(live_server, tmp_path) as sims:
        resp = await rpc(live_server, "queryThing", {"id": "m0", "method": "reboot"})
        assert resp.status_code == 200, resp.text
        assert resp.json() is None and [s.reboots for s in sims] == [1, 0]
        # The seed's camelCase names work; a control this device lacks does not.
        bad = await rpc(live_server, "queryThing", {"id": "m0", "method": "setFrequency",
                                                     "params": [500]})  # fmt: skip
        assert bad.status_code == 400 and bad.json()["error"] == "ERR_THING_METHOD_NOTFOUND"
        bad = await rpc(live_server, "queryThing", {"id": "m0", "method": "format_disk"})
        assert bad.json()["error"] == "ERR_THING_METHOD_NOTFOUND"
        gone = await rpc(live_server, "queryThing", {"id": "nope", "method": "reboot"})
        assert gone.status_code == 404 and gone.json()["error"] == "ERR_THING_NOTFOUND"
        failed = await rpc(live_server, "queryThing", {"id": "m1", "method": "setPowerMode",
                                                        "params": ["turbo"]})  # fmt: skip
        assert failed.status_code == 502 and failed.json()["error"] == "ERR_THING_CALL_FAILED"
        assert "ERR_PARAMS_INVALID" in failed.json()["message"]


async def test_apply_things_counts_successes(live_server: LiveServer, tmp_path: Path) -> None:
    async with fleet(live_server, tmp_path, n=3) as sims:
        body = {"method": "reboot", "query": {"id": {"$in": ["m0", "m2"]}}}
        resp = await rpc(live_server, "applyThings", body)
        assert resp.status_code == 200 and resp.json() == 2
        assert [s.reboots for s in sims] == [1, 0, 1]
        resp = await rpc(live_server, "applyThings", {"method": "reboot", "limit": 1,
                                                      "sort": {"id": -1}})  # fmt: skip
        assert resp.json() == 1 and [s.reboots for s in sims] == [1, 0, 2]


async def test_viewers_may_not_and_a_missing_agent_times_out(live_server: LiveServer) -> None:
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    opts = {"family": "antminer", "address": "127.95.1.1"}
    live_server.call(state.registry.register_things([{"rack": "r1", "id": "m0", "opts": opts}]))
    uid = live_server.call(state.auth.create_user("vic", "vic-password", "viewer"))
    viewer = {
        "Authorization": f"Bearer {live_server.call(state.auth.create_api_token(uid, 'v', True))}"
    }
    body = {"id": "m0", "method": "reboot", "timeout": 0.3}
    refused = await rpc(live_server, "queryThing", body, viewer)
    assert refused.status_code == 403 and refused.json()["error"] == "ERR_ACTION_DENIED"
    waited = await rpc(live_server, "queryThing", body)  # no agent is running
    assert waited.status_code == 504 and waited.json()["error"] == "ERR_THING_CALL_TIMEOUT"


@pytest.mark.parametrize("timeout", [0, -1, "x", True])
async def test_bad_timeouts(live_server: LiveServer, timeout: Any) -> None:
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    opts = {"family": "antminer", "address": "127.95.1.1"}
    live_server.call(state.registry.register_things([{"rack": "r1", "id": "m0", "opts": opts}]))
    resp = await rpc(live_server, "queryThing", {"id": "m0", "method": "reboot",
                                                 "timeout": timeout})  # fmt: skip
    assert resp.status_code == 400 and resp.json()["error"] == "ERR_PARAMS_INVALID"
