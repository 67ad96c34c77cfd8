"""The NATS JetStream bus: agents' batches land in a stream, ingest workers write them.

``publish`` returns once JetStream has stored the batch (file storage): that is when the
server answers the agent, and the agent deletes its spool up to ``acked_seq``. The count it
returns is how many rows were new *to the stream*; a resend inside the duplicate window has
the same ``Nats-Msg-Id`` (spool id, first and last seq, row count) and is dropped by
JetStream, so it counts as duplicates. Whether each row is new to the database is decided
later, by the worker's idempotent insert (``ON CONFLICT (spool_id, seq) DO NOTHING``).

Workers (:mod:`hashfleet.server.ingest.worker`) share one durable pull consumer and ack
each message after the commit. After a commit a worker publishes the rows on the core
subject ``<subject>.written``; every server subscribed to it applies rows written by
*other* processes to its live index and observers, so a server stays live when standalone
``hashfleet ingest-worker`` processes (or other servers' workers) did the writing. That
notification is at most once (core NATS): a server disconnected at the time misses those
rows until the thing's next snapshot. See docs/deploy.md, "NATS JetStream bus".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from hashfleet.core.errors import HashfleetError
from hashfleet.core.settings import Settings
from hashfleet.core.tasks import cancel_all
from hashfleet.server.bus.base import Handler, Listener, Rows
from hashfleet.server.ingest.worker import (
    IngestWorker,
    PoisonMessage,
    Sink,
    WriterSink,
    decode_rows,
    encode_rows,
)
from hashfleet.server.ingest.writer import Writer

log = logging.getLogger(__name__)

ORIGIN_HEADER = "Hashfleet-Origin"
# Room left in a message for headers and the notification's envelope.
_PAYLOAD_MARGIN = 16 * 1024
GiB = 1 << 30
CONNECT_TIMEOUT_S = 10.0


class BusUnavailable(HashfleetError):
    """The ingest bus cannot take the batch now (not reachable, or its stream is full)."""

    code = "ERR_BUS_UNAVAILABLE"
    status = 503


class _Written(msgspec.Struct):
    """A "rows written" notification: a batch and which of its rows were new ("0"/"1")."""

    new: str
    batch: msgspec.Raw


_written_decoder = msgspec.json.Decoder(_Written)
_encoder = msgspec.json.Encoder()


def msg_id(rows: Rows) -> str:
    """The JetStream de-duplication id of a slice of one agent batch."""
    first, last = rows[0], rows[-1]
    return f"{first['spool_id']}:{first['seq']}-{last['seq']}:{len(rows)}"


def split_rows(rows: Rows, limit: int) -> list[tuple[Rows, bytes]]:
    """Slices of ``rows`` whose encoding fits ``limit`` bytes, with their encodings.

    Deterministic, so a resend of the same batch is sliced (and de-duplicated) the same way.
    """
    payload = encode_rows(rows)
    if len(payload) <= limit or len(rows) == 1:
        return [(rows, payload)]
    # As many slices as the size asks for, plus one for rows of uneven size: each row is
    # encoded about twice, where halving again and again encoded it ~4 times.
    parts = -(-len(payload) // limit) + 1
    step = -(-len(rows) // parts)
    out: list[tuple[Rows, bytes]] = []
    for start in range(0, len(rows), step):
        out.extend(split_rows(rows[start : start + step], limit))
    return out


class NatsBus:
    """Bus on NATS JetStream; ``workers`` consumer loops run in this process.

    Limits of the stream (created if missing, updated when it differs): file storage,
    work-queue retention (a message is deleted once a worker acked it), at most
    ``max_bytes`` (then publishing is refused — ``503 ERR_BUS_UNAVAILABLE`` — and agents
    keep their spool: nothing is dropped), ``max_age_s`` (0 = never expire), and a
    ``duplicate_window_s`` for resends.
    """

    delivers_rows = False  # workers decode the stream's messages

    @classmethod
    def from_settings(
        cls, settings: Settings, *, workers: int | None = None, name: str = "hashfleet-server"
    ) -> NatsBus:
        """The bus the settings describe (``workers``: consumer loops, the settings' by
        default) — for the server and for ``hashfleet ingest-worker`` alike."""
        return cls(
            settings.bus,
            stream=settings.nats_stream,
            subject=settings.nats_subject,
            consumer=settings.nats_consumer,
            workers=settings.ingest_workers if workers is None else workers,
            max_rows=settings.ingest_max_batch,
            max_bytes=settings.nats_max_bytes,
            max_age_s=settings.nats_max_age_s,
            duplicate_window_s=settings.nats_duplicate_window_s,
            ack_wait_s=settings.nats_ack_wait_s,
            replicas=settings.nats_replicas,
            name=name,
        )

    def __init__(
        self,
        url: str,
        *,
        stream: str = "HASHFLEET_INGEST",
        subject: str = "hashfleet.ingest",
        consumer: str = "hashfleet-ingest",
        workers: int = 1,
        max_rows: int = 5000,
        fetch_batch: int = 16,
        max_bytes: int = 8 * GiB,
        max_age_s: float = 0.0,
        duplicate_window_s: float = 600.0,
        ack_wait_s: float = 60.0,
        replicas: int = 1,
        publish_timeout_s: float = 10.0,
        name: str = "hashfleet-server",
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject = subject
        self.written_subject = f"{subject}.written"
        self.consumer = consumer
        self.workers = workers
        self.max_rows = max_rows
        self.fetch_batch = fetch_batch
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.duplicate_window_s = duplicate_window_s
        self.ack_wait_s = ack_wait_s
        self.replicas = replicas
        self.publish_timeout_s = publish_timeout_s
        self.name = name
        self.origin = secrets.token_hex(8)
        self.worker_loops: list[IngestWorker] = []
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._poll: asyncio.Task[None] | None = None
        self._sink: Sink | None = None
        self._pending = 0
        self._listeners: dict[str, list[Listener]] = {}
        self.notices_sent = 0
        self.notices_received = 0

    # -- the Bus protocol ------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        """Connect, ensure stream and consumer, run the workers, follow other writers.

        With the server's :class:`Writer` as ``handler``, workers commit and then update
        this server's live index and observers, and rows other processes wrote reach them
        by notification. Any other handler is simply called with each group of rows.
        """
        sink: Sink = WriterSink(handler) if isinstance(handler, Writer) else _HandlerSink(handler)
        await self.connect()
        if isinstance(sink, WriterSink):
            assert self._nc is not None
            await self._nc.subscribe(self.written_subject, cb=self._on_written)
            for kind in self._listeners:
                await self._nc.subscribe(self.notice_subject(kind), cb=self._on_notice)
        await self.start_workers(sink, self.workers)

    async def publish(self, rows: Rows) -> int:
        """Store ``rows`` in the stream; returns how many were new to it.

        Raises :class:`BusUnavailable` when JetStream does not acknowledge in time or
        refuses (stream full): the agent keeps its spool and retries.
        """
        js = self._js
        if js is None:
            raise RuntimeError("bus is not running")
        if not rows:
            return 0
        assert self._nc is not None
        slices = split_rows(rows, max(1024, self._nc.max_payload - _PAYLOAD_MARGIN))
        try:
            acks = await asyncio.gather(
                *(
                    js.publish(
                        self.subject,
                        payload,
                        timeout=self.publish_timeout_s,
                        stream=self.stream,
                        headers={"Nats-Msg-Id": msg_id(part)},
                    )
                    for part, payload in slices
                )
            )
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("publish of %d rows to %s failed: %r", len(rows), self.stream, exc)
            raise BusUnavailable(f"the ingest stream did not take the batch: {exc!r}") from exc
        return sum(
            len(part) for (part, _), ack in zip(slices, acks, strict=True) if not ack.duplicate
        )

    async def stop(self) -> None:
        """Let workers finish the batch in hand, then close the connection.

        Nothing needs draining: what is not acked stays in the stream for the next worker.
        """
        for worker in self.worker_loops:
            worker.stopping = True
        if self._tasks:
            _, still = await asyncio.wait(self._tasks, timeout=self.ack_wait_s / 2)
            await cancel_all(list(still))
        self._tasks = []
        if self._poll is not None:
            await cancel_all([self._poll])
            self._poll = None
        if self._nc is not None:
            # Acks sent by the workers go out first; unacked messages stay in the stream.
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._nc.flush(timeout=2)
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._nc.close()
            self._nc = None
        self._js = None

    def pending(self) -> int:
        """Messages (batches) in the stream not yet acked by a worker (polled every second)."""
        return self._pending

    # -- notices between servers (the Announcer protocol) -----------------------------------

    def notice_subject(self, kind: str) -> str:
        """The core NATS subject of ``kind`` notices: ``<subject>.<kind>``."""
        return f"{self.subject}.{kind}"

    def listen(self, kind: str, listener: Listener) -> None:
        """Call ``listener`` on every ``kind`` notice from another server (register before
        :meth:`start`, which subscribes)."""
        self._listeners.setdefault(kind, []).append(listener)

    async def announce(self, kind: str, data: dict[str, Any]) -> None:
        """Publish a ``kind`` notice (core NATS, at most once; a failure is only logged:
        the receivers' periodic resync repairs a missed notice)."""
        nc = self._nc
        if nc is None:
            return
        try:
            await nc.publish(
                self.notice_subject(kind),
                _encoder.encode(data),
                headers={ORIGIN_HEADER: self.origin},
            )
            self.notices_sent += 1
        except (nats.errors.Error, OSError) as exc:
            log.warning("%s notice not sent: %r", kind, exc)

    async def _on_notice(self, msg: Msg) -> None:
        if (msg.headers or {}).get(ORIGIN_HEADER) == self.origin:
            return
        kind = msg.subject[len(self.subject) + 1 :]
        try:
            data = msgspec.json.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("ignoring an invalid %s notice", kind)
            return
        if not isinstance(data, dict):
            return
        self.notices_received += 1
        for listener in self._listeners.get(kind, []):
            try:
                await listener(data)
            except Exception:
                log.exception("%s notice listener failed", kind)

    # -- parts used by `hashfleet ingest-worker` -------------------------------------------

    async def connect(self) -> None:
        """Connect to NATS and make sure the stream and the durable consumer exist."""
        nc = Client()
        self._nc = nc
        try:
            # Reconnects are retried for ever once connected; the first connection is not.
            await asyncio.wait_for(
                nc.connect(
                    servers=[self.url],
                    name=self.name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                timeout=CONNECT_TIMEOUT_S,
            )
            self._js = self._nc.jetstream(timeout=self.publish_timeout_s)
            await self._ensure_stream()
            await self._ensure_consumer()
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            with contextlib.suppress(nats.errors.Error):
                await nc.close()
            self._nc = None
            self._js = None
            raise BusUnavailable(f"NATS JetStream at {self.url}: {exc!r}") from exc
        self._poll = asyncio.create_task(self._poll_pending(), name="nats-bus-pending")
        log.info(
            "NATS bus %s: stream %s (%s), consumer %s, %d worker(s)",
            self.url,
            self.stream,
            self.subject,
            self.consumer,
            self.workers,
        )

    async def start_workers(self, sink: Sink, count: int) -> None:
        """Run ``count`` consumer loops writing to ``sink``."""
        assert self._js is not None
        self._sink = sink
        for i in range(count):
            psub = await self._js.pull_subscribe_bind(durable=self.consumer, stream=self.stream)
            worker = IngestWorker(
                f"{self.name}/worker-{i}",
                _fetcher(psub, self.fetch_batch),
                sink,
                notify=None if isinstance(sink, _HandlerSink) else self._notify,
                deliveries=_deliveries,
                max_rows=self.max_rows,
            )
            self.worker_loops.append(worker)
            self._tasks.append(asyncio.create_task(worker.run(), name=worker.name))

    async def consumer_pending(self) -> int:
        """Messages not yet acked: waiting for a worker plus delivered and not acked."""
        assert self._js is not None
        info = await self._js.consumer_info(self.stream, self.consumer)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    # -- internals -------------------------------------------------------------------------

    def stream_config(self) -> StreamConfig:
        """The stream this bus wants (see the class docstring for the limits)."""
        return StreamConfig(
            name=self.stream,
            description="hashfleet: agents' snapshot batches waiting for an ingest worker",
            subjects=[self.subject],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            max_bytes=self.max_bytes,
            max_age=self.max_age_s,
            duplicate_window=self.duplicate_window_s,
            num_replicas=self.replicas,
        )

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        config = self.stream_config()
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            try:
                await self._js.add_stream(config)
                return
            except nats.js.errors.BadRequestError:
                await self._js.stream_info(self.stream)  # created meanwhile by another process
        try:
            await self._js.update_stream(config)
        except nats.js.errors.APIError as exc:
            log.warning("stream %s exists with another config, kept as is: %s", self.stream, exc)

    async def _ensure_consumer(self) -> None:
        assert self._js is not None
        config = ConsumerConfig(
            durable_name=self.consumer,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            max_deliver=-1,
            filter_subject=self.subject,
            max_ack_pending=1000,
        )
        try:
            await self._js.add_consumer(self.stream, config)
        except nats.js.errors.BadRequestError as exc:
            await self._js.consumer_info(self.stream, self.consumer)
            log.warning(
                "consumer %s exists with another config, kept as is: %s", self.consumer, exc
            )

    async def _poll_pending(self) -> None:
        while True:
            try:
                self._pending = await self.consumer_pending()
            except (TimeoutError, nats.errors.Error) as exc:
                log.debug("consumer info of %s failed: %r", self.consumer, exc)
            await asyncio.sleep(1.0)

    async def _notify(self, parts: list[tuple[bytes, Rows]], new: Rows) -> None:
        """Tell every server which rows were written (and which of them were new).

        Each message's own payload is forwarded (it is already the rows' encoding), with
        a flag per row; only one too large for a notice is sliced and encoded again.
        """
        nc = self._nc
        if nc is None:
            return
        fresh = {(r["spool_id"], r["seq"]) for r in new}
        limit = max(1024, nc.max_payload - _PAYLOAD_MARGIN)
        for payload, rows in parts:
            if not rows:
                continue
            slices = [(rows, payload)]
            if len(payload) + len(rows) > limit:
                slices = split_rows(rows, max(1024, limit - len(rows)))
            for part, data in slices:
                flags = "".join("1" if (r["spool_id"], r["seq"]) in fresh else "0" for r in part)
                body = _encoder.encode(_Written(new=flags, batch=msgspec.Raw(data)))
                await nc.publish(self.written_subject, body, headers={ORIGIN_HEADER: self.origin})

    async def _on_written(self, msg: Msg) -> None:
        """Rows another process committed: to this server's live index and observers."""
        if (msg.headers or {}).get(ORIGIN_HEADER) == self.origin or self._sink is None:
            return
        try:
            note = _written_decoder.decode(msg.data)
            rows = decode_rows(note.batch, with_views=True)
        except (msgspec.ValidationError, msgspec.DecodeError, PoisonMessage) as exc:
            log.warning("ignoring an invalid rows-written notification: %s", exc)
            return
        new = [r for r, flag in zip(rows, note.new, strict=False) if flag == "1"]
        self._sink.applied(rows, new)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS %s: %r", self.url, exc)

    async def _on_disconnected(self) -> None:
        log.warning("NATS %s: disconnected", self.url)

    async def _on_reconnected(self) -> None:
        log.info("NATS %s: reconnected", self.url)


class _HandlerSink:
    """A plain bus handler as a worker's sink (no notifications of new rows)."""

    needs_views = True

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def commit(self, rows: Rows) -> Rows:
        """Call the handler; it does everything, including what comes after the commit."""
        await self.handler(rows)
        return []

    def applied(self, rows: Rows, new: Rows) -> None:
        """The handler already did it."""


def _fetcher(psub: JetStreamContext.PullSubscription, batch: int) -> Any:
    async def fetch() -> list[Msg]:
        try:
            return await psub.fetch(batch, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:
            log.warning("fetch from the ingest consumer failed: %r", exc)
            await asyncio.sleep(1.0)
            return []

    return fetch


def _deliveries(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except nats.errors.NotJSMessageError:
        return 1
