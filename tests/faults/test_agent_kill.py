"""``kill -9`` of an agent with a full spool: the spool survives and is shipped exactly once.

Set-up: a real ``hashfleet server`` subprocess on SQLite, 5 simulated devices, and a real
``hashfleet agent`` subprocess polling every 0.2 s. Once the server has stored 30
snapshots it is stopped (SIGTERM), so the agent's spool fills; with at least 60 snapshots
waiting, the agent is SIGKILLed. The server is started again and a new agent (in-process,
instrumented) opens the same data dir.

Proven, with exact counts:

* the spool file is intact after the kill (``PRAGMA integrity_check`` = ok) and partitions
  the agent's numbering: stored seqs + pending seqs = 1..last seq, disjoint (nothing was
  deleted without an ack, nothing acked is still pending);
* the new agent keeps the spool's identity (same ``spool_id``) and numbers on from the
  last seq;
* after it drains, the table holds exactly: the rows stored before, plus every item that
  was pending in the killed agent's spool (same seq, thing and timestamp as spooled), plus
  every snapshot the new agent produced; each pending and new seq was acknowledged exactly
  once, and no (spool_id, seq) is stored twice.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from hashfleet.server.store.engine import create_engine
from hashfleet.server.store.snapshots import count_snapshots
from hashfleet.sim.farm import Farm
from tests.faults.harness import (
    INTERVAL_S,
    CountingAgent,
    assert_exact,
    farm_devices,
    last_seq,
    stored,
    wait_acked,
    wait_until,
)
from tests.support.processes import AgentProcess, ServerProcess, provision_admin, register_rack
from tests.support.spools import read_spool, spooled


async def test_kill_9_of_an_agent_keeps_its_spool(tmp_path: Path) -> None:
    farm = Farm(antminers=4, xmrigs=1, ip_base="127.121.3.1", web_ui=False)
    await farm.start()
    data_dir = tmp_path / "server"
    admin = await provision_admin(data_dir)
    server = ServerProcess(data_dir)
    engine = create_engine(f"sqlite:///{data_dir / 'hashfleet.db'}")
    agent_dir = tmp_path / "agent"
    spool_path = agent_dir / "spool.db"
    first: AgentProcess | None = None
    second: CountingAgent | None = None
    try:
        await asyncio.to_thread(server.start)
        token = await asyncio.to_thread(register_rack, server.url, admin, farm_devices(farm))
        first = AgentProcess(server.url, token, agent_dir, INTERVAL_S).start()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while await count_snapshots(engine) < 30:
            assert first.running(), first.output()
            assert loop.time() < deadline, "the agent did not ship 30 snapshots"
            await asyncio.sleep(0.1)

        await asyncio.to_thread(server.terminate)
        await wait_until(lambda: spooled(spool_path) >= 60, what="60 items in the spool")
        assert first.running(), first.output()
        assert await asyncio.to_thread(first.kill) == -signal.SIGKILL

        check, spool_id, pending = read_spool(spool_path)
        assert check == "ok"
        killed_last = last_seq(spool_path)
        before = await stored(engine, spool_id)
        assert before.rows == before.distinct
        assert before.seqs.isdisjoint(pending)
        assert before.seqs | set(pending) == set(range(1, killed_last + 1))

        await asyncio.to_thread(server.start)
        second = await CountingAgent(server.url, token, agent_dir).start()
        assert second.spool.spool_id == spool_id
        assert second.base_seq == killed_last
        await wait_acked(second.spool, killed_last)  # the dead agent's backlog
        await wait_acked(second.spool, killed_last + 40)  # and 40 new ones
        await second.finish()

        new = second.expected()
        expected = {**before.by_seq, **pending, **new}
        assert len(expected) == before.rows + len(pending) + len(new)
        final = await stored(engine, spool_id)
        assert_exact(final, expected)
        assert {seq: final.by_seq[seq] for seq in pending} == pending
        assert second.spool.acked == dict.fromkeys([*pending, *new], 1)
        print(
            f"agent kill: {before.rows} stored before, {len(pending)} pending in the killed "
            f"spool (integrity ok), {len(new)} new; {final.rows} stored = "
            f"{before.rows} + {len(pending)} + {len(new)}, 0 lost, 0 duplicated"
        )
    finally:
        if second is not None:
            await second.stop()
        if first is not None:
            await asyncio.to_thread(first.kill)
        await asyncio.to_thread(server.kill)
        await engine.dispose()
        await farm.stop()
