"""``kill -9`` of the server in the middle of ingest loses nothing and stores nothing twice.

Set-up: a real ``hashfleet server`` subprocess (SQLite in its data dir, and PostgreSQL in a
database of its own on the test PostgreSQL server), 5 simulated devices (4 Antminers, 1
XMRig, :class:`~hashfleet.sim.farm.Farm`) and the real agent in-process, polling every
0.2 s. Twice, once the server has acknowledged 40 more snapshots, the server is SIGKILLed
while the agent posts its next batch: first right after the agent takes it from the spool
(the batch is usually not committed), then the moment its rows are visible in the
database (usually committed but not answered: the agent must resend it and the new
server must store nothing twice). The server is
started again on the same database and port; the agent, which kept polling into its spool,
resends.

Proven, with exact counts:

* right after each kill, every snapshot the server had acknowledged is in the database,
  and the batch in flight is there entirely or not at all (one transaction);
* nothing was deleted from the spool without an ack: pending == last seq - acked seq;
* after the agent drains, the table holds exactly the agent's produced snapshots: one row
  per seq 1..produced, each with the thing and timestamp produced under that seq: 0 lost,
  0 duplicated (``count_snapshots`` == produced == distinct (spool_id, seq)).
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
    kill_on_commit,
    last_seq,
    stored,
    wait_acked,
)
from tests.support.processes import ServerProcess, provision_admin, register_rack

# When to SIGKILL, counted from the agent taking a batch to post: "at once" (the batch is on
# its way or being decoded: usually not committed) and "on commit" (the moment its last row
# is visible in the database: usually committed but not yet answered, so the agent resends
# it to the next server).
MODES = ["at once", "on commit"]
KILLS = len(MODES)
STEP = 40  # snapshots acknowledged between faults


async def test_kill_9_of_the_server_mid_ingest(tmp_path: Path, db_url: str) -> None:
    farm = Farm(antminers=4, xmrigs=1, ip_base="127.121.1.1", web_ui=False)
    await farm.start()
    data_dir = tmp_path / "server"
    admin = await provision_admin(data_dir, db_url)
    server = ServerProcess(data_dir, db_url)
    engine = create_engine(db_url)
    agent: CountingAgent | None = None
    try:
        await asyncio.to_thread(server.start)
        token = await asyncio.to_thread(register_rack, server.url, admin, farm_devices(farm))
        agent = await CountingAgent(server.url, token, tmp_path / "agent").start()
        spool = agent.spool
        in_flight: list[list[int]] = []
        tasks: set[asyncio.Task[None]] = set()
        for mode in MODES:
            target = spool.acked_upto + STEP
            await wait_acked(spool, target)
            killed = asyncio.Event()

            def kill_soon(
                batch: list[int], killed: asyncio.Event = killed, mode: str = mode
            ) -> None:
                spool.on_peek = None
                in_flight.append(list(batch))
                pid = server.pid

                async def kill() -> None:
                    if mode == "at once":
                        os.kill(pid, signal.SIGKILL)
                    else:
                        args = (db_url, spool.spool_id, max(batch), pid)
                        await asyncio.to_thread(kill_on_commit, *args)
                    killed.set()

                tasks.add(asyncio.get_running_loop().create_task(kill()))

            spool.on_peek = kill_soon
            await killed.wait()
            assert await asyncio.to_thread(server.kill) == -signal.SIGKILL
            await asyncio.sleep(0.2)  # an answer already on the socket is read and acked
            acked = spool.acked_upto
            after_kill = await stored(engine, spool.spool_id)
            assert set(range(1, acked + 1)) <= after_kill.seqs, "an acknowledged snapshot is lost"
            batch = set(in_flight[-1])
            assert len(batch & after_kill.seqs) in (0, len(batch)), "half a batch committed"
            assert after_kill.rows == after_kill.distinct
            if max(batch) <= acked:
                committed = "committed and acked"
            else:
                committed = "committed, ack lost" if batch <= after_kill.seqs else "not committed"
            print(f"kill {mode}: {acked} acked and stored; {len(batch)} in flight {committed}")

            # The agent keeps polling into its spool while the server is away. Checked
            # before the restart: once the server is up the agent may resend at any time.
            assert spool.acked_upto == acked, "an ack came from a dead server"
            assert spool.pending() == last_seq(spool.path) - acked
            assert spool.pending_seqs() == list(range(acked + 1, last_seq(spool.path) + 1))
            await asyncio.to_thread(server.start)
            await wait_acked(spool, last_seq(spool.path))  # the backlog

        await wait_acked(spool, target + STEP)
        await agent.finish()
        produced = agent.produced
        assert produced == len(agent.items) == last_seq(spool.path)
        assert spool.acked_upto == produced
        final = await stored(engine, spool.spool_id)
        assert_exact(final, agent.expected())
        assert final.total == produced
        assert server.starts == KILLS + 1
        print(f"{produced} produced = stored, seqs 1..{produced}, 0 lost, 0 duplicated")
    finally:
        if agent is not None:
            await agent.stop()
        await asyncio.to_thread(server.kill)
        await engine.dispose()
        await farm.stop()
