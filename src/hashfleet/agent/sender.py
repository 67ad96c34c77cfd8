"""Ships spooled snapshots to the server in order, deleting them only once acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiohttp
import msgspec

from hashfleet.agent.spool import Spool, build_batch
from hashfleet.wire.messages import IngestAck

log = logging.getLogger(__name__)

_ack_decoder = msgspec.json.Decoder(IngestAck)


class Sender:
    """Loops: peek the oldest items, POST them, ack on the server's receipt, back off on error."""

    def __init__(
        self,
        spool: Spool,
        session: aiohttp.ClientSession,
        url: str,
        batch_size: int = 2000,
        max_backoff: float = 30.0,
    ) -> None:
        """Send from ``spool`` to ``url`` (the ingest endpoint) with ``session``'s auth."""
        self.spool = spool
        self.session = session
        self.url = url
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.sent = 0
        self.wakeup = asyncio.Event()
        self._down_since: float | None = None

    async def run(self) -> None:
        """Send forever."""
        backoff = 0.5
        while True:
            items = self.spool.peek(self.batch_size)
            if not items:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
                continue
            try:
                ack = await self._post(build_batch(self.spool.spool_id, items))
            except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError, ServerRefused) as exc:
                if self._down_since is None:
                    self._down_since = asyncio.get_running_loop().time()
                    log.warning("server unreachable (%s); spooling %d+ snapshots", exc, len(items))
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if self._down_since is not None:
                log.info("server reachable again; resending the spool")
                self._down_since = None
            backoff = 0.5
            # Never trust an ack past what this batch carried: items appended since the peek
            # were not sent, and deleting them would lose them.
            self.spool.ack(min(ack.acked_seq, items[-1][0]))
            self.sent += len(items)

    async def _post(self, body: bytes) -> IngestAck:
        async with self.session.post(
            self.url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=60),
        ) as resp:
            payload = await resp.read()
            if resp.status != 200:
                raise ServerRefused(f"HTTP {resp.status}: {payload[:200]!r}")
            return _ack_decoder.decode(payload)


class ServerRefused(Exception):
    """The server answered but did not take the batch (it will be retried)."""
