"""Ships spooled snapshots to the server in order, deleting them only once acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiohttp
import msgspec

from hashfleet.agent.spool import Spool, build_batch
from hashfleet.core.errors import (
    HashfleetError,
    TlsHandshakeFailed,
    TlsPinMismatch,
    TlsUntrusted,
)
from hashfleet.core.tls import format_fingerprint
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
        # What the last failed send said ("ERR_…: …" for TLS trouble); None while sending.
        self.last_error: str | None = None

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
                tls = tls_error(exc)
                error = f"{tls.code}: {tls.message}" if tls else str(exc) or repr(exc)
                # Once per outage, and again when the reason turns into a TLS one: unlike a
                # server that is down, a wrong pin or an untrusted certificate never heals
                # by itself, so the operator must see it.
                if self._down_since is None or (tls and error != self.last_error):
                    if self._down_since is None:
                        self._down_since = asyncio.get_running_loop().time()
                    if tls:
                        log.error(
                            "%s; not sending, %d+ snapshots stay in the spool", error, len(items)
                        )
                    else:
                        log.warning(
                            "server unreachable (%s); spooling %d+ snapshots", error, len(items)
                        )
                self.last_error = error
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if self._down_since is not None:
                log.info("server reachable again; resending the spool")
                self._down_since = None
                self.last_error = None
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


def tls_error(exc: BaseException) -> HashfleetError | None:
    """A TLS failure of a request as an ``ERR_TLS_*`` error that says what to do; else None."""
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return TlsPinMismatch(
            f"the server {exc.host}:{exc.port} presented the certificate "
            f"{format_fingerprint(exc.got)}, not the pinned {format_fingerprint(exc.expected)} "
            "(a different server, an interception, or a renewed certificate: check "
            "`hashfleet server`'s start-up output and fix --pin-sha256)"
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TlsUntrusted(
            f"cannot verify the certificate of {exc.host}:{exc.port}: {exc.certificate_error} "
            "(give --ca-file with the server's certificate or CA, or --pin-sha256 with its "
            "fingerprint)"
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return TlsHandshakeFailed(
            f"no TLS session with {exc.host}:{exc.port}: {exc.os_error} "
            "(is the server serving HTTPS on that port?)"
        )
    return None
