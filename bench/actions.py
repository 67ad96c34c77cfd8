"""Actions benchmark: an approved reboot of N simulated miners, end to end, and pushAction
over a 10,000-thing fleet.

    python bench/actions.py [--miners 200] [--fleet 10000]

1. N simulated Antminers (cgminer API on 127.97.x.y) in rack r1; an agent ``JobRunner``
   with the rack's token; ``pushAction`` reboot of all of them by an operator (one vote
   needed) → time until the action is ``done``, jobs per second, and the simulators'
   reboot counters (each must be exactly 1).
2. A second rack of ``--fleet`` things needing two votes: ``pushAction`` over all of them
   (target resolution against the live index, permissions, capabilities, the action
   document stored) — median of 5, in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashfleet.agent.jobs import JobRunner, Journal
from hashfleet.sim.farm import Farm
from hashfleet.wire.messages import AgentThing
from tests.support.live_server import LiveServer


def rpc(server: LiveServer, method: str, body: Any, headers: dict[str, str]) -> Any:
    resp = httpx.post(f"{server.url}/rpc/{method}", json=body, headers=headers, timeout=120)
    resp.raise_for_status()
    return resp.json()


async def reboot_fleet(server: LiveServer, n: int, workdir: Path) -> dict[str, float]:
    state = server.state
    assert state is not None
    farm = Farm(antminers=n, web_ui=False, ip_base="127.97.0.1")
    await farm.start()
    try:
        things = {
            f"m{i}": AgentThing(
                id=f"m{i}", code=f"M-{i}", type="miner",
                opts={"family": "antminer", "address": d.address, "port": d.port,
                      "timeout": 5, "params": {"web": False}},
            )
            for i, d in enumerate(farm.devices)
        }  # fmt: skip
        server.call(state.registry.register_rack("r1", "miner", {}))
        server.call(
            state.registry.register_things(
                [
                    {"rack": "r1", "id": t.id, "code": t.code, "opts": t.opts}
                    for t in things.values()
                ]
            )
        )
        token = server.call(state.auth.create_rack_token("r1"))
        uid = server.call(state.auth.create_user("olga", "olga-password", "operator"))
        olga = {
            "Authorization": f"Bearer {server.call(state.auth.create_api_token(uid, 'b', True))}"
        }
        journal = Journal(workdir / "jobs.db")
        session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        runner = JobRunner(journal, server.url, things.get, wait_s=2.0)
        task = asyncio.create_task(runner.run(session))
        await asyncio.sleep(0.5)  # the runner is waiting in its long poll
        try:
            start = time.perf_counter()
            body = {"query": {"tags": {"$in": ["rack-r1"]}}, "action": "reboot", "params": []}
            pushed = await asyncio.to_thread(rpc, server, "pushAction", body, olga)
            while True:
                doc = await asyncio.to_thread(rpc, server, "getAction", {"id": pushed["id"]}, olga)
                if doc["state"] == "done":
                    break
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - start
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await session.close()
            journal.close()
        completed = sum(1 for r in doc["results"].values() if r["state"] == "completed")
        reboots = [d.sim.reboots for d in farm.devices]
        return {
            "miners": n,
            "push_to_done_s": round(elapsed, 3),
            "jobs_per_s": round(n / elapsed, 1),
            "completed": completed,
            "rebooted_exactly_once": sum(1 for r in reboots if r == 1),
        }
    finally:
        await farm.stop()


def push_over_fleet(server: LiveServer, n: int) -> dict[str, float]:
    state = server.state
    assert state is not None
    info = {"actionVotes": {"*": {"reqVotesPos": 2}}}  # stays voting: nothing runs
    server.call(state.registry.register_rack("big", "miner", info))
    for start in range(0, n, 2000):
        server.call(
            state.registry.register_things(
                [
                    {"rack": "big", "id": f"b{i}",
                     "opts": {"family": "antminer", "address": f"10.1.{i // 256}.{i % 256}"}}
                    for i in range(start, min(n, start + 2000))
                ]
            )
        )  # fmt: skip
    body = {"query": {"tags": {"$in": ["rack-big"]}}, "action": "setPowerMode", "params": ["sleep"]}
    times = []
    for _ in range(5):
        start = time.perf_counter()
        out = rpc(server, "pushAction", body, server.headers)
        times.append((time.perf_counter() - start) * 1000)
        calls = sum(len(t["calls"]) for t in out["data"]["targets"].values())
        assert calls == n, calls
    return {"fleet": n, "push_action_ms": round(statistics.median(times), 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--miners", type=int, default=200)
    parser.add_argument("--fleet", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "server", throttle_s=0.5).start()
        try:
            print("reboot, end to end:", await reboot_fleet(server, args.miners, Path(tmp)))
            print("pushAction:", await asyncio.to_thread(push_over_fleet, server, args.fleet))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
