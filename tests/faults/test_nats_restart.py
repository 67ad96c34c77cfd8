"""A NATS JetStream restart under a running server loses and duplicates nothing.

The system NATS service is never touched: the test runs a private ``nats-server -js`` (from
``PATH``) on a free port with its JetStream store in ``tmp_path`` and points a real
``hashfleet server`` subprocess at it (``HASHFLEET_BUS=nats://…``; SQLite store; one ingest
worker in the server). Skipped, with the reason, when ``nats-server`` or the ``nats``
Python client is missing or the server has no NATS bus. 5 simulated devices, the real
agent in-process polling every 0.2 s.

With the NATS bus an ack means "stored in the JetStream stream"; a worker commits to the
database afterwards. While ingest runs, just after the agent takes a batch to post,
nats-server is stopped, once with SIGTERM (JetStream flushes its store) and once with
SIGKILL (what it wrote is in the OS's page cache), stays down for 1 s and is started again
on the same port and store.

Proven, with exact counts:

* the server process survives (its client reconnects; a publish that fails answers 503 and
  the agent retries);
* every snapshot acknowledged before the restart reaches the database after it (the
  stream kept what it had acknowledged);
* after the agent drains and the workers catch up, the table holds exactly the produced
  snapshots (seq 1..produced, each with its thing and timestamp): 0 lost, 0 duplicated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.settings import Settings
from hashfleet.server.store.engine import create_engine
from hashfleet.sim.farm import Farm
from tests.faults.harness import (
    CountingAgent,
    assert_exact,
    farm_devices,
    last_seq,
    stored,
    wait_acked,
)
from tests.support.processes import (
    NATS_SERVER,
    NatsProcess,
    ServerProcess,
    provision_admin,
    register_rack,
)


def _skip_reason() -> str | None:
    if NATS_SERVER is None:
        return "nats-server is not on PATH"
    if importlib.util.find_spec("nats") is None:
        return "the nats Python client (nats-py) is not installed"
    if "bus" not in {f.name for f in dataclasses.fields(Settings)}:
        return "this server has no NATS bus (no Settings.bus)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


async def until_stored(engine: AsyncEngine, spool_id: str, seqs: set[int], timeout: float) -> None:
    """Wait until the workers have committed ``seqs``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        missing = seqs - (await stored(engine, spool_id)).seqs
        if not missing:
            return
        assert loop.time() < deadline, (
            f"{len(missing)} acked seqs not stored: {sorted(missing)[:20]}"
        )
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
async def test_nats_restart_mid_ingest(tmp_path: Path, stop: str) -> None:
    nats_server = NatsProcess(tmp_path / "jetstream")
    await asyncio.to_thread(nats_server.start)
    farm = Farm(antminers=4, xmrigs=1, ip_base="127.121.5.1", web_ui=False)
    await farm.start()
    data_dir = tmp_path / "server"
    admin = await provision_admin(data_dir)
    server = ServerProcess(data_dir, env={"HASHFLEET_BUS": nats_server.url})
    engine = create_engine(f"sqlite:///{data_dir / 'hashfleet.db'}")
    agent: CountingAgent | None = None
    try:
        await asyncio.to_thread(server.start)
        token = await asyncio.to_thread(register_rack, server.url, admin, farm_devices(farm))
        agent = await CountingAgent(server.url, token, tmp_path / "agent").start()
        spool = agent.spool
        await wait_acked(spool, 40)
        posting = asyncio.Event()

        def on_peek(_batch: list[int]) -> None:
            spool.on_peek = None
            posting.set()

        spool.on_peek = on_peek
        await posting.wait()
        await asyncio.to_thread(nats_server.stop if stop == "sigterm" else nats_server.kill)
        acked = spool.acked_upto
        await asyncio.sleep(1.0)  # the agent keeps polling into its spool
        await asyncio.to_thread(nats_server.start)

        await until_stored(engine, spool.spool_id, set(range(1, acked + 1)), timeout=30)
        await wait_acked(spool, last_seq(spool.path), timeout=40)
        assert server.running(), server.output()
        await wait_acked(spool, spool.acked_upto + 40)
        await agent.finish()
        produced = agent.produced
        assert produced == len(agent.items) == last_seq(spool.path) == spool.acked_upto
        await until_stored(engine, spool.spool_id, set(range(1, produced + 1)), timeout=30)
        final = await stored(engine, spool.spool_id)
        assert_exact(final, agent.expected())
        assert server.starts == 1
        refused = server.output().count('/api/agent/ingest HTTP/1.1" 503')
        print(
            f"nats restart ({stop}): {acked} acked before, {produced} produced = stored, 0 lost, "
            f"0 duplicated ({refused} ingest requests refused with 503 meanwhile)"
        )
    finally:
        if agent is not None:
            await agent.stop()
        await asyncio.to_thread(server.kill)
        await engine.dispose()
        await farm.stop()
        await asyncio.to_thread(nats_server.stop)
