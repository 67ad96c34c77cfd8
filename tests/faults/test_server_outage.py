"""A server outage (SIGTERM, down for a while, started again) loses and duplicates nothing.

Set-up: a real ``hashfleet server`` subprocess on SQLite, 5 simulated devices, the real
agent in-process polling every 0.2 s. Once 40 snapshots are acknowledged the server is
stopped with SIGTERM and stays down for ``HASHFLEET_FAULT_OUTAGE_S`` seconds (default 20;
the long version is ``HASHFLEET_FAULT_OUTAGE_S=600 pytest tests/faults/test_server_outage.py``,
about 11 minutes); the agent keeps polling into its spool the whole time. Then the server
starts again on the same database and port.

Proven, with exact counts:

* SIGTERM is graceful (uvicorn's shutdown completes), and then the stored seqs are
  exactly the acknowledged ones, 1..acked: what the server committed it also answered;
* during the outage nothing leaves the spool: pending == last seq - acked, and every
  snapshot produced during the outage is in it;
* after the restart and the agent's drain the table holds exactly the produced snapshots
  (seq 1..produced, each with its thing and timestamp): 0 lost, 0 duplicated, and the agent
  got exactly one ack for each seq.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

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
from tests.support.processes import ServerProcess, provision_admin, register_rack

OUTAGE_S = float(os.environ.get("HASHFLEET_FAULT_OUTAGE_S", "20"))


async def test_server_outage_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    farm = Farm(antminers=4, xmrigs=1, ip_base="127.121.2.1", web_ui=False)
    await farm.start()
    data_dir = tmp_path / "server"
    admin = await provision_admin(data_dir)
    server = ServerProcess(data_dir)
    engine = create_engine(f"sqlite:///{data_dir / 'hashfleet.db'}")
    agent: CountingAgent | None = None
    try:
        await asyncio.to_thread(server.start)
        token = await asyncio.to_thread(register_rack, server.url, admin, farm_devices(farm))
        agent = await CountingAgent(server.url, token, tmp_path / "agent").start()
        spool = agent.spool
        await wait_acked(spool, 40)

        # uvicorn shuts down (requests in flight answered, lifespan drains the bus), then
        # re-raises the signal: the exit status is -SIGTERM after a clean shutdown.
        assert await asyncio.to_thread(server.terminate) == -signal.SIGTERM
        assert server.output().rstrip().endswith(f"Finished server process [{server.pid}]")
        assert "Application shutdown complete." in server.output()
        await asyncio.sleep(0.2)  # an answer already on the socket is read and acked
        acked = spool.acked_upto
        at_stop = await stored(engine, spool.spool_id)
        assert at_stop.seqs == set(range(1, acked + 1))
        assert at_stop.rows == at_stop.distinct == acked
        produced_at_stop = agent.produced

        await asyncio.sleep(OUTAGE_S)
        assert not server.running()
        assert spool.acked_upto == acked
        backlog = last_seq(spool.path) - acked
        assert spool.pending() == backlog
        assert spool.pending_seqs() == list(range(acked + 1, last_seq(spool.path) + 1))
        during = agent.produced - produced_at_stop
        # 5 devices at 0.2 s: ~25 a second; at least half of that must have been spooled.
        assert during >= OUTAGE_S * 25 / 2, f"only {during} polls in {OUTAGE_S} s"

        await asyncio.to_thread(server.start)
        await wait_acked(spool, last_seq(spool.path), timeout=60 + OUTAGE_S / 10)
        await wait_acked(spool, spool.acked_upto + 40)
        await agent.finish()
        produced = agent.produced
        assert produced == len(agent.items) == last_seq(spool.path) == spool.acked_upto
        final = await stored(engine, spool.spool_id)
        assert_exact(final, agent.expected())
        assert final.total == produced
        assert spool.acked == {seq: 1 for seq in range(1, produced + 1)}, "a seq acked twice"
        print(
            f"outage {OUTAGE_S:.0f} s: {acked} acked before, {backlog} spooled during "
            f"({during} produced while down), {produced} produced = stored, 0 lost, "
            "0 duplicated"
        )
    finally:
        if agent is not None:
            await agent.stop()
        await asyncio.to_thread(server.kill)
        await engine.dispose()
        await farm.stop()
