"""The sender: ordered shipping, deletion only of what the server acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiohttp import web

from hashfleet.agent.sender import Sender
from hashfleet.agent.spool import Spool, encode_item
from hashfleet.wire.messages import IngestBatch
from tests.support.live_server import free_port
from tests.support.waiting import until

Reply = Callable[[IngestBatch], web.Response]


@contextlib.asynccontextmanager
async def ingest_server(reply: Reply) -> AsyncIterator[tuple[str, list[IngestBatch]]]:
    """A real HTTP ingest endpoint on loopback whose answers the test scripts."""
    received: list[IngestBatch] = []

    async def handle(request: web.Request) -> web.Response:
        batch = msgspec.json.decode(await request.read(), type=IngestBatch)
        received.append(batch)
        return reply(batch)

    app = web.Application()
    app.router.add_post("/api/agent/ingest", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/api/agent/ingest", received
    finally:
        await runner.cleanup()


def ack(acked_seq: int) -> web.Response:
    return web.json_response({"acked_seq": acked_seq, "stored": 0, "duplicates": 0})


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "spool.db")
    s.append([encode_item(f"t{i}", i, {"stats": {}}, None) for i in range(5)])
    return s


@contextlib.asynccontextmanager
async def sender_running(
    spool: Spool, url: str, batch_size: int = 2000, max_backoff: float = 30.0
) -> AsyncIterator[Sender]:
    async with aiohttp.ClientSession() as session:
        sender = Sender(spool, session, url, batch_size=batch_size, max_backoff=max_backoff)
        task = asyncio.create_task(sender.run())
        try:
            yield sender
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_an_ack_beyond_the_batch_deletes_only_what_was_sent(spool: Spool) -> None:
    async with (
        ingest_server(lambda _batch: ack(10_000)) as (url, received),
        sender_running(spool, url, batch_size=3),
    ):
        await until(lambda: len(received) >= 1)
        # The first batch carried seqs 1..3; a runaway ack must not delete 4 and 5 unsent.
        await until(lambda: spool.pending() == 0)
    # Every item reached the server before it left the spool.
    sent = [item.seq for batch in received for item in batch.items]
    assert sent[:5] == [1, 2, 3, 4, 5]


async def test_refusals_keep_the_items_and_resend_them_in_order(spool: Spool) -> None:
    answers = iter([web.Response(status=503), web.Response(status=500)])

    def reply(batch: IngestBatch) -> web.Response:
        return next(answers, None) or ack(batch.items[-1].seq)

    async with (
        ingest_server(reply) as (url, received),
        sender_running(spool, url, batch_size=2, max_backoff=0.1),
    ):
        await until(lambda: spool.pending() == 0)
    seqs = [[item.seq for item in batch.items] for batch in received]
    assert seqs[:3] == [[1, 2], [1, 2], [1, 2]]
    assert [s for batch in seqs[2:] for s in batch] == [1, 2, 3, 4, 5]


async def test_a_partial_ack_resends_the_rest(spool: Spool) -> None:
    acks = iter([2])

    def reply(batch: IngestBatch) -> web.Response:
        return ack(next(acks, batch.items[-1].seq))

    async with ingest_server(reply) as (url, received), sender_running(spool, url):
        await until(lambda: spool.pending() == 0)
    seqs = [[item.seq for item in batch.items] for batch in received]
    assert seqs[0] == [1, 2, 3, 4, 5]
    assert seqs[1] == [3, 4, 5]
