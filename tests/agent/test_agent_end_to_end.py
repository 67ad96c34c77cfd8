"""Agent against simulators and a real server: snapshots arrive; across a server outage and
an agent restart none is lost and none is stored twice (counted exactly)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx

from hashfleet.agent.runner import Agent
from hashfleet.server.store.snapshots import count_snapshots
from hashfleet.sim.farm import Farm
from tests.support.live_server import LiveServer

ANTMINERS, XMRIGS = 6, 2


def register(server: LiveServer, farm: Farm) -> str:
    h = server.headers
    httpx.post(
        f"{server.url}/rpc/registerRack", json={"id": "r1", "type": "miner"}, headers=h
    ).raise_for_status()
    for dev in farm.devices:
        body = {
            "rack": "r1",
            "opts": {"family": dev.family, "address": dev.address, "port": dev.port, "timeout": 2},
        }
        httpx.post(f"{server.url}/rpc/registerThing", json=body, headers=h).raise_for_status()
    resp = httpx.post(f"{server.url}/api/racks/r1/token", headers=h)
    resp.raise_for_status()
    return str(resp.json()["token"])


async def wait_until(predicate: object, timeout: float = 20) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def stored(server: LiveServer) -> int:
    assert server.state is not None
    return server.call(count_snapshots(server.state.engine))


async def start_agent(server: LiveServer, token: str, data_dir: Path) -> tuple[Agent, object]:
    agent = Agent(server.url, token, data_dir, interval=0.2, refresh_s=0.5, flush_s=0.02)
    task = asyncio.create_task(agent.run())
    await wait_until(lambda: agent.poller is not None and agent.poller.things > 0)
    return agent, task


async def stop_agent(agent: Agent, task: object) -> None:
    assert isinstance(task, asyncio.Task)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    agent.close()


async def test_outage_and_restart_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    farm = Farm(antminers=ANTMINERS, xmrigs=XMRIGS, ip_base="127.66.0.1")
    await farm.start()
    server = await asyncio.to_thread(LiveServer(tmp_path / "server").start)
    try:
        token = await asyncio.to_thread(register, server, farm)
        agent, task = await start_agent(server, token, tmp_path / "agent")
        await wait_until(lambda: stored(server) >= 40)
        assert server.state is not None
        statuses = {
            d["last"]["snap"]["stats"]["status"]
            for d in server.state.live.things.values()
            if d["last"]
        }
        assert statuses == {"online"}

        # Server outage: the agent keeps polling into its spool.
        await asyncio.to_thread(server.stop)
        before = agent.produced
        await wait_until(lambda: agent.spool.pending() >= 40 and agent.produced > before + 40)
        # Agent restart in the middle of the outage: the spool is kept.
        await stop_agent(agent, task)
        produced_first = agent.produced
        server = await asyncio.to_thread(LiveServer(tmp_path / "server", port=server.port).start)
        agent, task = await start_agent(server, token, tmp_path / "agent")
        await wait_until(lambda: agent.produced >= 40)
        assert await agent.drain()
        await stop_agent(agent, task)
        total = produced_first + agent.produced
        assert stored(server) == total
        # Resending an already acknowledged range stores nothing again.
        assert server.state is not None
        assert server.state.writer.rows_written <= total
    finally:
        await asyncio.to_thread(server.stop)
        await farm.stop()


async def test_a_faulty_device_is_marked_and_its_neighbours_are_not(tmp_path: Path) -> None:
    farm = Farm(antminers=3, xmrigs=0, ip_base="127.66.1.1")
    await farm.start()
    server = await asyncio.to_thread(LiveServer(tmp_path / "server").start)
    agent = None
    task: object = None
    try:
        token = await asyncio.to_thread(register, server, farm)
        bad, good = farm.devices[0].address, farm.devices[1].address
        farm.set_fault(bad, "garbage")
        agent, task = await start_agent(server, token, tmp_path / "agent")
        assert server.state is not None
        live = server.state.live

        def by_address(address: str) -> dict[str, object]:
            return next(d for d in live.things.values() if d["opts"]["address"] == address)

        def settled() -> bool:
            b, g = by_address(bad), by_address(good)
            return bool(b["last"] and g["last"]) and b["last"]["err"] is not None

        await wait_until(settled)
        assert by_address(bad)["last"]["err"] == "ERR_DEVICE_REPLY_INVALID"
        assert by_address(bad)["last"]["snap"]["stats"]["status"] == "error"
        assert by_address(good)["last"]["err"] is None
        assert by_address(good)["last"]["snap"]["stats"]["status"] == "online"
        farm.set_fault(bad, "refuse")
        await wait_until(lambda: by_address(bad)["last"]["err"] == "ERR_DEVICE_OFFLINE")
        assert by_address(bad)["last"]["snap"]["stats"]["status"] == "offline"
        farm.set_fault(bad, "none")
        await wait_until(lambda: by_address(bad)["last"]["err"] is None)
    finally:
        if agent is not None:
            await stop_agent(agent, task)
        await asyncio.to_thread(server.stop)
        await farm.stop()
