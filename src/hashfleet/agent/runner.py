"""The agent process: load things from the server, poll them, spool and ship snapshots, and
run the approved actions the server queues for its things.

A ``rackReboot`` action ends :meth:`Agent.run` gracefully with ``restart_requested`` set
(the caller, ``hashfleet agent``, then starts the process again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from hashfleet.agent.jobs import JobRunner, Journal
from hashfleet.agent.poller import Poller
from hashfleet.agent.sender import Sender, tls_error
from hashfleet.agent.spool import Spool, encode_item
from hashfleet.core.errors import TlsInvalid
from hashfleet.core.tasks import cancel_all
from hashfleet.core.tls import check_server_url, client_context, parse_pin
from hashfleet.wire.messages import AgentConfig, AgentThing

log = logging.getLogger(__name__)

_config_decoder = msgspec.json.Decoder(AgentConfig)


class Agent:
    """One rack's agent."""

    def __init__(
        self,
        server_url: str,
        token: str,
        data_dir: Path,
        concurrency: int = 64,
        refresh_s: float = 15.0,
        flush_s: float = 0.05,
        interval: float | None = None,
        ca_file: str | Path | None = None,
        pin_sha256: str | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        """Talk to ``server_url`` with the rack ``token``; keep the spool in ``data_dir``.

        An https server is verified against the system's CAs, or against ``ca_file``, or
        accepted only if its certificate has the SHA-256 fingerprint ``pin_sha256``. Raises
        ``InsecureUrl`` for plain HTTP to another machine unless ``allow_insecure_http``,
        ``TlsInvalid`` for an unusable CA file or pin — before anything is opened.
        """
        if ca_file and pin_sha256:
            raise TlsInvalid("give --ca-file or --pin-sha256, not both")
        check_server_url(server_url, allow_insecure_http, tls_options=bool(ca_file or pin_sha256))
        self._ssl: ssl.SSLContext | aiohttp.Fingerprint | bool = True
        if ca_file:
            self._ssl = client_context(ca_file)
        elif pin_sha256:
            # Fingerprint: aiohttp skips chain and name checks and compares the SHA-256 of
            # the certificate the server sent, before any byte of the request leaves.
            self._ssl = aiohttp.Fingerprint(parse_pin(pin_sha256))
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.spool = Spool(data_dir / "spool.db")
        self.journal = Journal(data_dir / "jobs.db")
        self.jobs: JobRunner | None = None
        self._by_id: dict[str, AgentThing] = {}
        self.concurrency = concurrency
        self.refresh_s = refresh_s
        self.flush_s = flush_s
        self.interval_override = interval
        self._buffer: list[bytes] = []
        self.produced = 0
        self.poller: Poller | None = None
        self.sender: Sender | None = None
        self.config: AgentConfig | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._draining = False
        # rackReboot: set when the server asked this agent to restart; run() then drains
        # (at most restart_drain_s per step) and returns.
        self.restart_requested = False
        self.restart_drain_s = 5.0
        self._stop: asyncio.Event | None = None

    def _sink(
        self, thing_id: str, ts: int, snap: dict[str, object] | None, err: str | None
    ) -> None:
        self._buffer.append(encode_item(thing_id, ts, snap, err))
        self.produced += 1

    def flush(self) -> int:
        """Write buffered poll results to the spool in one transaction."""
        if not self._buffer:
            return 0
        batch, self._buffer = self._buffer, []
        self.spool.append(batch)
        if self.sender is not None:
            self.sender.wakeup.set()
        return len(batch)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            self.flush()

    async def _load_config(self, session: aiohttp.ClientSession) -> AgentConfig:
        async with session.get(
            f"{self.server_url}/api/agent/config", timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(
                    f"server refused the agent's token: HTTP {resp.status} {body[:200]!r}"
                )
            return _config_decoder.decode(body)

    async def _refresh_forever(self, session: aiohttp.ClientSession) -> None:
        assert self.poller is not None
        try:
            while True:
                try:
                    self.config = await self._load_config(session)
                    self._by_id = {t.id: t for t in self.config.things}
                    self.poller.interval = self.interval_override or self.config.poll_interval
                    self.poller.set_things(self.config.things)
                except (
                    aiohttp.ClientError, TimeoutError, msgspec.DecodeError, RuntimeError
                ) as exc:  # fmt: skip
                    # Keep polling what we know: the server being away must not stop the rack.
                    tls = tls_error(exc)
                    reason = f"{tls.code}: {tls.message}" if tls else exc
                    log.warning("cannot refresh the thing list: %s", reason)
                await asyncio.sleep(self.refresh_s)
        except asyncio.CancelledError:
            if not self._draining:
                raise
            # drain() stopped refreshing; ending normally keeps the sender running.

    def request_restart(self) -> None:
        """Stop gracefully so that the process can start again (``rackReboot``)."""
        self.restart_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> None:
        """Run until cancelled, or until a restart is requested (then drain and return);
        flushes the spool buffer on the way out."""
        headers = {"Authorization": f"Bearer {self.token}"}
        connector = aiohttp.TCPConnector(limit=4, ssl=self._ssl)
        self._stop = asyncio.Event()
        if self.restart_requested:
            self._stop.set()
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            interval = self.interval_override or 5.0
            self.poller = Poller(self._sink, interval=interval, concurrency=self.concurrency)
            self.sender = Sender(self.spool, session, f"{self.server_url}/api/agent/ingest")
            self._refresh_task = asyncio.create_task(
                self._refresh_forever(session), name="agent-refresh"
            )
            self.jobs = JobRunner(
                self.journal, self.server_url, self._thing, on_restart=self.request_restart
            )
            tasks = [
                self._refresh_task,
                asyncio.create_task(self._flush_forever(), name="agent-flush"),
                asyncio.create_task(self.sender.run(), name="agent-send"),
                asyncio.create_task(self.jobs.run(session), name="agent-jobs"),
            ]
            stop = asyncio.create_task(self._stop.wait(), name="agent-stop")
            try:
                pending: set[asyncio.Task[Any]] = {*tasks, stop}
                while stop in pending and len(pending) > 1:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()  # a loop that failed ends the agent with its error
                if stop.done():
                    await self._stop_for_restart()
            finally:
                # Cancelled again if a loop swallowed it (see cancel_all): Ctrl-C must stop
                # the agent even while it retries a server that is away.
                await cancel_all([*tasks, stop])
                await self.poller.stop()
                self.flush()

    async def _stop_for_restart(self) -> None:
        """Let running jobs end and report, then drain the spool, a few seconds each."""
        log.warning("restarting: draining (at most %.0f s per step)", self.restart_drain_s)
        if self.jobs is not None and not await self.jobs.wait_idle(self.restart_drain_s):
            log.warning("restarting with jobs still running or unreported (journaled)")
        if not await self.drain(self.restart_drain_s):
            log.warning("restarting with %d spooled items unsent", self.spool.pending())

    async def drain(self, timeout: float = 30.0) -> bool:
        """Stop polling, spool what is buffered, wait until the server has acked it all."""
        # The refresh loop hands the poller its things again and would restart polls
        # after the final flush; their results would count as produced but never be sent.
        if self._refresh_task is not None:
            self._draining = True
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
        if self.poller is not None:
            await self.poller.stop()
        self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.spool.pending() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return self.spool.pending() == 0

    def _thing(self, thing_id: str) -> AgentThing | None:
        """A thing of this rack as the server last described it (for running a job)."""
        return self._by_id.get(thing_id)

    def close(self) -> None:
        """Close the spool and the job journal."""
        self.spool.close()
        self.journal.close()
