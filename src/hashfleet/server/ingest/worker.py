"""Ingest workers of the NATS JetStream bus: fetch batches, commit them, then ack.

A worker pulls messages from the durable consumer, writes their rows with the same
idempotent insert as the embedded bus (``ON CONFLICT (spool_id, seq) DO NOTHING``) and acks
each message only after the commit. A failed write is nak'ed with a growing delay, so
JetStream redelivers it (to this worker or another); a message that cannot be decoded
(poison) is terminated and logged, never retried. A worker killed between the commit and
the ack gets its messages redelivered after the consumer's ack wait: the rows are then
duplicates and are stored once.

Encoding of one bus message (JSON): ``{"v": 1, "rows": [[spool_id, seq, thing_id, rack_id,
ts, err, snap], ...]}`` with ``snap`` the agent's raw snapshot JSON (or ``null``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import BadRequest
from hashfleet.model.snapshot import decode_view
from hashfleet.server.bus.base import Rows
from hashfleet.server.ingest.rows import deciding_rows
from hashfleet.server.ingest.writer import Writer
from hashfleet.server.store.snapshots import store_snapshots

log = logging.getLogger(__name__)

WIRE_VERSION = 1
# A failed write is redelivered after min(2 ** deliveries, this) seconds.
MAX_NAK_DELAY_S = 30.0


class WireRow(msgspec.Struct, array_like=True):
    """One snapshot row on the bus (the agent's snapshot JSON stays raw)."""

    spool_id: str
    seq: int
    thing_id: str
    rack_id: str
    ts: int
    err: str | None
    snap: msgspec.Raw


class WireBatch(msgspec.Struct):
    """One bus message: rows of one agent batch (or a slice of it)."""

    rows: list[WireRow]
    v: int = WIRE_VERSION


_batch_decoder = msgspec.json.Decoder(WireBatch)
_encoder = msgspec.json.Encoder()
_NULL = b"null"
_NULL_RAW = msgspec.Raw(_NULL)


class PoisonMessage(BadRequest):
    """A bus message that is not a batch of snapshot rows; it is terminated, not retried."""

    code = "ERR_BUS_MESSAGE_INVALID"


def encode_rows(rows: Rows) -> bytes:
    """The bus message for ``rows`` (their ``doc`` is not sent: it is the decoded ``snap``)."""
    wire = [
        WireRow(
            r["spool_id"],
            r["seq"],
            r["thing_id"],
            r["rack_id"],
            r["ts"],
            r["err"],
            _raw(r["snap"]),
        )
        for r in rows
    ]
    return _encoder.encode(WireBatch(rows=wire))


def _raw(snap: Any) -> msgspec.Raw:
    if snap is None:
        return msgspec.Raw(_NULL)
    if isinstance(snap, msgspec.Raw):
        return snap
    return msgspec.Raw(_encoder.encode(snap))


def decode_rows(payload: bytes, *, with_views: bool = False) -> Rows:
    """Rows of a bus message.

    ``with_views`` also decodes each snapshot's hot values into the row's ``view``
    (:func:`~hashfleet.model.snapshot.decode_view`): a server checked every snapshot
    against the model before publishing it, so this is no validation, only a cheap check
    that it is a snapshot at all.

    Raises :class:`PoisonMessage` when the payload is not a batch of this version, or a
    snapshot in it is no snapshot.
    """
    try:
        batch = _batch_decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PoisonMessage(f"not a snapshot batch: {exc}") from exc
    if batch.v != WIRE_VERSION:
        raise PoisonMessage(f"unknown bus message version {batch.v}")
    rows: Rows = []
    for w in batch.rows:
        snap = None if w.snap == _NULL_RAW else w.snap
        row: dict[str, Any] = {
            "spool_id": w.spool_id,
            "seq": w.seq,
            "thing_id": w.thing_id,
            "rack_id": w.rack_id,
            "ts": w.ts,
            "err": w.err,
            "snap": snap,
        }
        if with_views:
            try:
                row["view"] = None if snap is None else decode_view(snap)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise PoisonMessage(f"row {w.spool_id}/{w.seq}: not a snapshot: {exc}") from exc
        rows.append(row)
    return rows


class Sink(Protocol):
    """Where a worker's rows go: ``commit`` (durable; returns the new rows), then ``applied``.

    ``needs_views``: rows are decoded with their snapshots' hot values (``view``), for a
    live index and observers.
    """

    needs_views: bool

    async def commit(self, rows: Rows) -> Rows:
        """Store ``rows`` in one transaction; returns those that were new."""
        ...

    def applied(self, rows: Rows, new: Rows) -> None:
        """After the commit: live index and observers (where there are any)."""
        ...


class StoreSink:
    """A standalone worker's sink: the store only (no live index in this process)."""

    needs_views = False

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def commit(self, rows: Rows) -> Rows:
        """Idempotent insert of the events, forward-only thing state."""
        return await store_snapshots(self.engine, rows)

    def applied(self, rows: Rows, new: Rows) -> None:
        """Nothing here: the servers' live indexes hear of the rows by notification."""


class WriterSink:
    """The server's sink: the store, then the server's live index and observers.

    Does what :class:`Writer` does, in two steps, so the worker knows which rows were new
    (for the "rows written" notification) before the live index and observers see them.
    """

    needs_views = True

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def commit(self, rows: Rows) -> Rows:
        """Idempotent insert of the events, forward-only thing state."""
        new = await store_snapshots(self.writer.engine, rows)
        self.writer.rows_written += len(new)
        return new

    def applied(self, rows: Rows, new: Rows) -> None:
        """Committed rows to the live index, the new ones to the observers (once each)."""
        self.writer.live.apply(deciding_rows(rows))
        for observe in self.writer.observers:
            try:
                observe(new)
            except Exception:
                # The rows are committed: an observer's bug must not fail the ingest.
                log.exception("snapshot observer %r failed", observe)


class AckableMsg(Protocol):
    """What a worker needs of a JetStream message (``nats.aio.msg.Msg``)."""

    data: bytes

    async def ack(self) -> None: ...
    async def nak(self, delay: float | None = None) -> None: ...
    async def term(self) -> None: ...


Fetch = Callable[[], Awaitable[list[Any]]]
# After a commit: each message's payload with its rows, then the rows that were new.
Notify = Callable[[list[tuple[bytes, Rows]], Rows], Awaitable[None]]
Deliveries = Callable[[Any], int]


class IngestWorker:
    """One consumer loop: fetch up to ``fetch_batch`` messages, write, ack (or nak/term)."""

    def __init__(
        self,
        name: str,
        fetch: Fetch,
        sink: Sink,
        *,
        notify: Notify | None = None,
        deliveries: Deliveries | None = None,
        max_rows: int = 5000,
    ) -> None:
        self.name = name
        self.fetch = fetch
        self.sink = sink
        self.notify = notify
        self.deliveries = deliveries or (lambda _msg: 1)
        self.max_rows = max_rows
        self.messages_done = 0
        self.rows_new = 0
        self.poison = 0
        self.failures = 0
        self.stopping = False

    async def run(self) -> None:
        """Fetch and process until :attr:`stopping` (a batch in hand is finished first)."""
        while not self.stopping:
            msgs = await self.fetch()
            if msgs:
                await self.process(msgs)

    async def process(self, msgs: list[Any]) -> None:
        """Decode, write in groups of at most ``max_rows`` rows, settle every message."""
        group: list[tuple[Any, Rows]] = []
        size = 0
        for msg in msgs:
            try:
                rows = decode_rows(msg.data, with_views=self.sink.needs_views)
            except PoisonMessage as exc:
                self.poison += 1
                log.error(
                    "%s: %s: terminating bus message (%d bytes)", exc.code, exc, len(msg.data)
                )
                await msg.term()
                continue
            if group and size + len(rows) > self.max_rows:
                await self._write(group)
                group, size = [], 0
            group.append((msg, rows))
            size += len(rows)
        if group:
            await self._write(group)

    async def _write(self, group: list[tuple[Any, Rows]]) -> None:
        rows = [r for _, batch in group for r in batch]
        try:
            new = await self.sink.commit(rows)
        except Exception as exc:  # noqa: BLE001 - the messages go back to JetStream
            if len(group) > 1:
                # One bad batch must not hold back the others: write each alone.
                for one in group:
                    await self._write([one])
                return
            msg = group[0][0]
            self.failures += 1
            delay = min(MAX_NAK_DELAY_S, float(2 ** min(self.deliveries(msg), 8)))
            log.warning(
                "%s: ingest write of %d rows failed (%s); redelivery in %.0f s",
                self.name,
                len(rows),
                exc,
                delay,
            )
            await msg.nak(delay=delay)
            return
        self.rows_new += len(new)
        self.sink.applied(rows, new)
        if self.notify is not None:
            try:
                await self.notify([(msg.data, batch) for msg, batch in group], new)
            except Exception as exc:  # noqa: BLE001 - best effort; the rows are committed
                log.warning("%s: rows-written notification failed: %s", self.name, exc)
        # Only now: a crash before this line gets the messages redelivered (stored once).
        for msg, _ in group:
            await msg.ack()
        self.messages_done += len(group)
