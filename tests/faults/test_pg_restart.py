"""A PostgreSQL restart under a running server loses and duplicates nothing.

The system PostgreSQL is never touched: the test makes a throwaway cluster of its own
(``initdb`` + ``pg_ctl`` from ``/usr/lib/postgresql/15/bin``, or ``HASHFLEET_TEST_PG_BIN``;
skipped with the reason when they are missing; as root the cluster runs as the
``postgres`` user in a private temp dir) on a free port, and points a real
``hashfleet server`` subprocess at it. 5 simulated devices, the real agent in-process
polling every 0.2 s.

While ingest runs the cluster is restarted twice: ``pg_ctl restart -m fast`` (clean
shutdown; connections are cut) and ``pg_ctl restart -m immediate`` (a crash: WAL replay
at start). Each is triggered just after the agent takes a batch to post.

Proven, with exact counts:

* the server process survives both restarts and ingests again without being restarted
  (its pool drops dead connections; failed writes answer an error and the agent retries);
* after each restart every snapshot acknowledged before it is still stored;
* after the agent drains the table holds exactly the produced snapshots (seq 1..produced,
  each with its thing and timestamp): 0 lost, 0 duplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    PgCluster,
    ServerProcess,
    pg_skip_reason,
    provision_admin,
    register_rack,
)

MODES = ["fast", "immediate"]


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    """A private PostgreSQL cluster, removed afterwards."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster: {reason}")
    cluster = PgCluster(tmp_path)
    try:
        yield cluster.init()
    finally:
        cluster.destroy()


async def test_postgresql_restart_mid_ingest(tmp_path: Path, pg_cluster: PgCluster) -> None:
    farm = Farm(antminers=4, xmrigs=1, ip_base="127.121.4.1", web_ui=False)
    await farm.start()
    data_dir = tmp_path / "server"
    admin = await provision_admin(data_dir, pg_cluster.url)
    server = ServerProcess(data_dir, pg_cluster.url)
    engine = create_engine(pg_cluster.url)
    agent: CountingAgent | None = None
    try:
        await asyncio.to_thread(server.start)
        token = await asyncio.to_thread(register_rack, server.url, admin, farm_devices(farm))
        agent = await CountingAgent(server.url, token, tmp_path / "agent").start()
        spool = agent.spool
        for mode in MODES:
            await wait_acked(spool, spool.acked_upto + 40)
            posting = asyncio.Event()

            def on_peek(_batch: list[int], posting: asyncio.Event = posting) -> None:
                spool.on_peek = None
                posting.set()

            spool.on_peek = on_peek
            await posting.wait()
            await asyncio.to_thread(pg_cluster.restart, mode)
            acked = spool.acked_upto
            after = await stored(engine, spool.spool_id)
            assert set(range(1, acked + 1)) <= after.seqs, f"acked rows lost ({mode})"
            assert after.rows == after.distinct
            # The same server process ingests again: the spool empties up to its last seq.
            await wait_acked(spool, last_seq(spool.path), timeout=40)
            assert server.running(), server.output()

        await wait_acked(spool, spool.acked_upto + 40)
        await agent.finish()
        produced = agent.produced
        assert produced == len(agent.items) == last_seq(spool.path) == spool.acked_upto
        final = await stored(engine, spool.spool_id)
        assert_exact(final, agent.expected())
        assert final.total == produced
        assert server.starts == 1
        failed = server.output().count('/api/agent/ingest HTTP/1.1" 500')
        print(
            f"postgres restarts {MODES}: {produced} produced = stored, 0 lost, 0 duplicated "
            f"({failed} ingest requests failed with 500 while the database was away)"
        )
    finally:
        if agent is not None:
            await agent.stop()
        await asyncio.to_thread(server.kill)
        await engine.dispose()
        await farm.stop()
