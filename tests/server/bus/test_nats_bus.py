"""The NATS JetStream bus against a real NATS server: publish → stream → workers → store,
exactly once, across resends, shared work, workers killed before their ack, poison
messages, failed writes, and a server with agents end to end.

Needs NATS with JetStream at HASHFLEET_TEST_NATS (default nats://127.0.0.1:4222); every
test uses its own stream, subject and consumer and deletes the stream afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.agent.runner import Agent
from hashfleet.core.settings import Settings
from hashfleet.server.bus.base import Rows
from hashfleet.server.bus.nats import NatsBus, msg_id, split_rows
from hashfleet.server.ingest.receive import receive_batch
from hashfleet.server.ingest.worker import StoreSink, decode_rows, encode_rows
from hashfleet.server.state import ServerState
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.snapshots import count_snapshots, store_snapshots
from hashfleet.sim.farm import Farm
from tests.server.ingest.test_ingest import batch
from tests.support.live_server import LiveServer
from tests.support.nats import NATS_SKIP_REASON, NATS_URL, private_stream

pytestmark = pytest.mark.skipif(NATS_SKIP_REASON is not None, reason=NATS_SKIP_REASON or "")


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """A stream, subject and consumer of this test alone; the stream is deleted after it."""
    with private_stream("test") as found:
        yield found


def bus(names: dict[str, str], **kwargs: Any) -> NatsBus:
    return NatsBus(
        NATS_URL,
        stream=names["nats_stream"],
        subject=names["nats_subject"],
        consumer=names["nats_consumer"],
        **kwargs,
    )


async def eventually(predicate: Callable[[], Any], timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def prepared_store(db_url: str, tmp_path: Path) -> None:
    """Migrate and register rack r1 with things m0..m2 (what the workers' rows refer to)."""
    state = ServerState(Settings.from_env(data_dir=tmp_path, database_url=db_url))
    try:
        await migrate(state.engine)
        await state.registry.load()
        await state.registry.register_rack("r1", "miner", {})
        await state.registry.register_things(
            [
                {"rack": "r1", "id": f"m{i}", "opts": {"family": "antminer", "address": "x"}}
                for i in range(3)
            ]
        )
    finally:
        await state.engine.dispose()


def rows_of(spool: str, seqs: range) -> Rows:
    return [
        {
            "spool_id": spool,
            "seq": s,
            "thing_id": f"m{s % 3}",
            "rack_id": "r1",
            "ts": 1_000 + s,
            "err": None,
            "snap": {"stats": {"status": "online", "hashrate": 1e12 * s}},
        }
        for s in seqs
    ]


def test_encoding_round_trips_and_slices_deterministically() -> None:
    rows = rows_of("s", range(1, 101))
    back = decode_rows(encode_rows(rows), with_views=True)
    assert [(r["seq"], r["view"].stats.hashrate) for r in back] == [
        (r["seq"], r["snap"]["stats"]["hashrate"]) for r in rows
    ]
    slices = split_rows(rows, 2_000)
    assert len(slices) > 1 and all(len(p) <= 2_000 for _, p in slices)
    assert [r for part, _ in slices for r in part] == rows
    assert [msg_id(p) for p, _ in slices] == [msg_id(p) for p, _ in split_rows(rows, 2_000)]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 3_000), min_size=1, max_size=60), limit=st.integers(500, 20_000)
)
def test_slices_fit_whatever_the_row_sizes(sizes: list[int], limit: int) -> None:
    rows = rows_of("s", range(1, len(sizes) + 1))
    for row, size in zip(rows, sizes, strict=True):
        row["snap"]["config"] = {"hostname": "x" * size}
    slices = split_rows(rows, limit)
    assert [r for part, _ in slices for r in part] == rows
    assert all(len(p) <= limit or len(part) == 1 for part, p in slices)
    assert all(p == encode_rows(part) for part, p in slices)


async def test_server_on_nats_stores_once_dedups_resends_and_stays_live(
    db_url: str, tmp_path: Path, names: dict[str, str]
) -> None:
    settings = Settings.from_env(
        data_dir=tmp_path, database_url=db_url, stale_s=1e9, bus=NATS_URL, **names
    )
    state = ServerState(settings)
    assert isinstance(state.bus, NatsBus)
    await state.start()
    try:
        await state.registry.register_rack("r1", "miner", {})
        await state.registry.register_things(
            [
                {"rack": "r1", "id": f"m{i}", "opts": {"family": "antminer", "address": "x"}}
                for i in range(3)
            ]
        )
        acks = await asyncio.gather(
            *(
                receive_batch(batch(f"spool-{a}", range(1, 51)), "r1", state.live, state.bus)
                for a in range(10)
            )
        )
        # Acked = durable in the stream; "stored" counts rows new to the stream.
        assert all((a.acked_seq, a.stored, a.duplicates) == (50, 50, 0) for a in acks)
        await eventually(lambda: _count(state))
        # A resend is de-duplicated by JetStream (same Nats-Msg-Id) and still acknowledged.
        again = await receive_batch(batch("spool-0", range(1, 51)), "r1", state.live, state.bus)
        assert (again.acked_seq, again.stored, again.duplicates) == (50, 0, 50)
        await eventually(lambda: state.bus.pending() == 0 and state.writer.rows_written == 500)
        assert await count_snapshots(state.engine) == 500
        last = state.live.things["m2"]["last"]
        assert last["ts"] == 1_050 and last["snap"]["stats"]["hashrate"] == 50e12
    finally:
        await state.stop()


async def _count(state: ServerState) -> bool:
    return await count_snapshots(state.engine) == 500


async def test_two_workers_share_the_work_and_store_each_row_once(
    db_url: str, tmp_path: Path, names: dict[str, str]
) -> None:
    await prepared_store(db_url, tmp_path)
    engine = create_engine(db_url)
    publisher = bus(names, workers=0)
    workers = [bus(names, fetch_batch=1, name=f"w{i}") for i in range(2)]
    await publisher.connect()
    try:
        for w in workers:
            await w.connect()
            await w.start_workers(StoreSink(engine), 1)
        new = await asyncio.gather(
            *(publisher.publish(rows_of(f"spool-{b}", range(1, 26))) for b in range(40))
        )
        assert sum(new) == 1_000
        await eventually(lambda: sum(w.worker_loops[0].messages_done for w in workers) == 40)
        assert await count_snapshots(engine) == 1_000
        assert all(w.worker_loops[0].messages_done > 0 for w in workers)
        assert sum(w.worker_loops[0].rows_new for w in workers) == 1_000
        assert await publisher.consumer_pending() == 0
    finally:
        for b in [publisher, *workers]:
            await b.stop()
        await engine.dispose()


async def test_a_worker_killed_before_its_ack_gets_the_batch_redelivered_and_stored_once(
    db_url: str, tmp_path: Path, names: dict[str, str]
) -> None:
    await prepared_store(db_url, tmp_path)
    engine = create_engine(db_url)
    publisher = bus(names, workers=0, ack_wait_s=1.0)
    await publisher.connect()
    nc = await nats.connect(NATS_URL)
    survivor = bus(names, ack_wait_s=1.0)
    try:
        await publisher.publish(rows_of("a", range(1, 21)))
        await publisher.publish(rows_of("b", range(1, 21)))
        # A worker takes both batches, commits the first, and dies before acking either.
        psub = await nc.jetstream().pull_subscribe_bind(
            durable=names["nats_consumer"], stream=names["nats_stream"]
        )
        taken = await psub.fetch(2, timeout=5)
        assert len(taken) == 2
        await store_snapshots(engine, decode_rows(taken[0].data))
        await nc.close()
        # After the ack wait both are redelivered to the surviving worker.
        await survivor.connect()
        await survivor.start_workers(StoreSink(engine), 1)
        loop = survivor.worker_loops[0]
        await eventually(lambda: loop.messages_done == 2)
        assert loop.rows_new == 20  # the first batch's rows were already there
        assert await count_snapshots(engine) == 40
        assert await survivor.consumer_pending() == 0
    finally:
        await survivor.stop()
        await publisher.stop()
        await engine.dispose()


async def test_poison_is_terminated_and_a_failed_write_is_retried(
    db_url: str, tmp_path: Path, names: dict[str, str]
) -> None:
    await prepared_store(db_url, tmp_path)
    engine = create_engine(db_url)

    class FlakySink(StoreSink):
        calls = 0

        async def commit(self, rows: Rows) -> Rows:
            self.calls += 1
            if self.calls == 1:
                raise OSError("database went away")
            return await super().commit(rows)

    worker = bus(names)
    try:
        await worker.connect()
        assert worker._js is not None
        await worker._js.publish(names["nats_subject"], b"\x00 not a batch")
        await worker.publish(rows_of("ok", range(1, 11)))
        await worker.start_workers(FlakySink(engine), 1)
        loop = worker.worker_loops[0]
        await eventually(lambda: loop.messages_done == 1)
        assert (loop.poison, loop.failures, loop.rows_new) == (1, 1, 10)
        assert await count_snapshots(engine) == 10
        assert await worker.consumer_pending() == 0
    finally:
        await worker.stop()
        await engine.dispose()


def register(server: LiveServer, farm: Farm) -> str:
    import httpx

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


@pytest.mark.parametrize("in_server", [True, False], ids=["server-workers", "standalone-worker"])
async def test_agent_to_server_with_nats_bus_end_to_end(
    tmp_path: Path, names: dict[str, str], in_server: bool
) -> None:
    """Agent → server --bus nats → stream → worker → store; the server's live index sees
    the rows whether its own workers wrote them or a standalone worker did (notification)."""
    farm = Farm(antminers=3, xmrigs=1, ip_base="127.66.9.1" if in_server else "127.66.10.1")
    await farm.start()
    server = LiveServer(
        tmp_path / "server", bus=NATS_URL, ingest_workers=1 if in_server else 0, **names
    )
    await asyncio.to_thread(server.start)
    engine = create_engine(server.settings.db_url)
    standalone = bus(names)
    agent = None
    task: asyncio.Task[None] | None = None
    try:
        if not in_server:
            await standalone.connect()
            await standalone.start_workers(StoreSink(engine), 1)
        token = await asyncio.to_thread(register, server, farm)
        agent = Agent(
            server.url, token, tmp_path / "agent", interval=0.2, refresh_s=0.5, flush_s=0.02
        )
        task = asyncio.create_task(agent.run())
        assert server.state is not None
        live = server.state.live
        await eventually(lambda: count_snapshots(engine))
        await eventually(lambda: len([d for d in live.things.values() if d["last"]]) == 4)
        assert {d["last"]["snap"]["stats"]["status"] for d in live.things.values()} == {"online"}
        await eventually(lambda: agent is not None and agent.produced >= 40)
        assert await agent.drain()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        task = None
        produced = agent.produced

        async def all_stored() -> bool:
            return await count_snapshots(engine) == produced

        await eventually(all_stored)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if agent is not None:
            agent.close()
        await standalone.stop()
        await asyncio.to_thread(server.stop)
        await engine.dispose()
        await farm.stop()
