"""NATS JetStream for tests: where it is, why a test skips, a stream of a test's own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import nats
import nats.errors
import nats.js.errors

NATS_URL = os.environ.get("HASHFLEET_TEST_NATS", "nats://127.0.0.1:4222")


def _nats_reason() -> str | None:
    async def probe() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        return f"NATS with JetStream not reachable at {NATS_URL}: {exc!r}"
    return None


NATS_SKIP_REASON = _nats_reason()


@contextlib.contextmanager
def private_stream(prefix: str) -> Iterator[dict[str, str]]:
    """Settings naming a stream, subject and consumer of one test; the stream is deleted
    afterwards. ``prefix``: a few letters telling whose stream it is."""
    u = uuid.uuid4().hex[:10]
    found = {
        "nats_stream": f"HF_{prefix.upper()}_{u}",
        "nats_subject": f"hf{prefix.lower()}.{u}.ingest",
        "nats_consumer": f"hf-{prefix.lower()}-{u}",
    }
    try:
        yield found
    finally:

        async def delete() -> None:
            nc = await nats.connect(NATS_URL)
            try:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await nc.jetstream().delete_stream(found["nats_stream"])
            finally:
                await nc.close()

        asyncio.run(delete())
