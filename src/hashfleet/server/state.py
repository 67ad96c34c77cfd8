"""The running server's parts, built and wired in one place."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import BadRequest
from hashfleet.core.files import make_private_dir
from hashfleet.core.ids import new_id
from hashfleet.core.settings import Settings
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.actions.executor import ActionExecutor
from hashfleet.server.actions.model import EXECUTING
from hashfleet.server.actions.service import ACTIONS_NOTICE, ActionService
from hashfleet.server.alerts.engine import AlertEngine
from hashfleet.server.alerts.notify.router import NotifyRouter
from hashfleet.server.audit.writer import AuditWriter
from hashfleet.server.auth.service import AuthService
from hashfleet.server.bus.base import Announcer, Bus, NoAnnouncer
from hashfleet.server.bus.embedded import EmbeddedBus
from hashfleet.server.bus.nats import NatsBus
from hashfleet.server.history_config import HistoryConfig, load_history_config
from hashfleet.server.ingest import heap
from hashfleet.server.ingest.writer import Writer
from hashfleet.server.jobs.direct import DirectCalls
from hashfleet.server.jobs.dispatcher import JOBS_ENDED_NOTICE, JOBS_NOTICE, JobDispatcher
from hashfleet.server.leader import Leadership, lock_dsn
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import REGISTRY_NOTICE, Registry
from hashfleet.server.replica import ReplicaRefresher, start_replica, stop_replica
from hashfleet.server.series.retention import Retention
from hashfleet.server.series.rollup import Rollup
from hashfleet.server.series.spec import StatSpec
from hashfleet.server.series.taillog import History
from hashfleet.server.settings.autosleep import AutoSleep
from hashfleet.server.settings.service import SETTINGS_NOTICE, SiteSettings
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.kv import setdefault_value

log = logging.getLogger(__name__)

# Several servers: how often each re-reads what a missed notice could have left stale.
RESYNC_S = 5.0
SWEEP_EVERY = 6


class ServerState:
    """Engine, live index, registry, bus, writer and auth of one server instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.history: HistoryConfig = load_history_config(settings.history_config)
        make_private_dir(settings.data_dir)
        self.engine: AsyncEngine = create_engine(settings.db_url)
        self.live = LiveIndex(stale_ms=int(settings.stale_s * 1000), throttle_s=settings.throttle_s)
        self.registry = Registry(self.engine, self.live)
        self.actions = ActionService(self.engine, self.live, self.registry)
        self.auth = AuthService(self.engine, settings.session_ttl_s)
        self.audit = AuditWriter(self.engine)
        self.writer = Writer(self.engine, self.live)
        self.bus: Bus = make_bus(settings)
        self.jobs = JobDispatcher(self.engine)
        # Approved actions run through the agents' job queue (rack actions in the registry).
        self.executor = ActionExecutor(self.actions, self.jobs, self.registry)
        self.actions.set_executor(self.executor)
        self.site_config = SiteSettings(
            self.engine,
            self.live,
            poll_interval_s=settings.poll_interval_s,
            stale_s=settings.stale_s,
        )
        self.autosleep = AutoSleep(self.site_config, self.live, self.actions)
        self.direct = DirectCalls(self.live, self.jobs)
        self.instance_id = ""
        self.replica_refresher: ReplicaRefresher | None = None
        spec = StatSpec(self.history.stats)
        self.rollup = Rollup(self.engine, self.live, spec, self.history.offsets)
        self.writer.observers.append(self.rollup.observe)
        self.series = History(self.engine, self.live, spec, self.history.offsets)
        self.retention = Retention(self.engine, self.history.retention)
        self.alerts = AlertEngine(self.engine, self.live, self.history.alerts)
        self.writer.observers.append(self.alerts.observe)
        # A bad notifiers config fails start-up here (ERR_CONFIG_INVALID).
        self.notifier = NotifyRouter(self.history.notifiers, self.live)
        self.alerts.notify = self.notifier.submit
        self.rollup.alerts_of = self.alerts.severities_of
        self.series.alerts_of = self.alerts.severities_of
        # Several servers on one PostgreSQL store and one NATS bus: one leader runs the
        # single-writer tasks, the others follow (docs/deploy.md, "Several servers").
        dsn = lock_dsn(self.engine.url.render_as_string(hide_password=False))
        self.shared = isinstance(self.bus, NatsBus) and dsn is not None and not settings.replica
        self.announcer: Announcer = self.bus if isinstance(self.bus, NatsBus) else NoAnnouncer()
        self.leader = Leadership(
            dsn if self.shared else None, on_gain=self._lead, on_lose=self._follow
        )
        self._resync: asyncio.Task[None] | None = None
        self._resyncs = 0
        if self.shared:
            self._share()
            # What the leader merges into what is stored: written only while it holds the
            # lock, and a new leader reads it only once the old one's writes have ended.
            self.rollup.fence = self.alerts.fence = self.leader.fence

    def _share(self) -> None:
        """Announce changes to the other servers and follow theirs."""
        ann = self.announcer
        for part in (self.registry, self.actions, self.site_config, self.jobs):
            part.announce = ann.announce
        ann.listen(REGISTRY_NOTICE, self.registry.on_notice)
        ann.listen(ACTIONS_NOTICE, self.actions.on_notice)
        ann.listen(SETTINGS_NOTICE, self.site_config.on_notice)
        ann.listen(JOBS_NOTICE, self.jobs.on_jobs_notice)
        ann.listen(JOBS_ENDED_NOTICE, self.jobs.on_ended_notice)
        # Followers until the lock says otherwise.
        self.alerts.leading = False
        self.rollup.follow()
        self.jobs.leading = False
        self.actions.set_executor(None)

    async def start(self) -> None:
        """Migrate the store, load the registry, start the bus and live tasks."""
        if self.settings.replica:
            await start_replica(self)  # no migrations, nothing that writes
            return
        await migrate(self.engine)
        # PostgreSQL: today's and the next days' snapshot partitions exist before ingest.
        # Not fatal: rows land in the default partition meanwhile, and retention retries.
        try:
            await self.retention.ensure_partitions()
        except DBAPIError as exc:
            log.warning("snapshot partitions not made at start (retention retries): %s", exc)
        self.instance_id = str(await setdefault_value(self.engine, "instance_id", new_id()))
        await self.registry.load()
        await self.actions.load()
        await self.site_config.load()
        await self.autosleep.load()
        await self.jobs.load()
        await self.rollup.load()
        await self.alerts.load()
        if not self.shared:
            self.notifier.prime(self.alerts.active())
        heap.freeze_loaded()  # before ingest: full collections skip what is loaded
        await self.bus.start(self.writer)
        self.live.start()
        # Rollups fold and alerts follow on every server; the leader flushes and evaluates.
        self.rollup.start()
        self.alerts.start()
        self.notifier.start()
        await self.leader.start()  # alone: leader at once; shared: when the lock is free
        self.actions.start()
        if self.shared:
            self._resync = asyncio.create_task(
                run_every(RESYNC_S, self.resync, "multi-server resync"), name="resync"
            )
        self.audit.start()
        log.info(
            "server %s started with %d things%s",
            self.instance_id,
            len(self.live.things),
            "" if not self.shared else (" (leader)" if self.leader.is_leader else " (follower)"),
        )

    async def refresh_things(self, thing_ids: list[str]) -> None:
        """Re-read these things from the store into the live index (several servers)."""
        await self.registry.reload(thing_ids, [])

    async def _lead(self) -> None:
        """This server became the leader: start the single-writer tasks."""
        if self.shared:
            await self.rollup.lead()
            await self.alerts.lead()
            self.notifier.prime(self.alerts.active())
            await self.autosleep.load()
            await self.actions.refresh_open()
            self.jobs.leading = True
        self.retention.start()
        self.jobs.start()
        await self.executor.recover()
        self.actions.set_executor(self.executor)
        self.autosleep.start()

    async def _follow(self) -> None:
        """Leadership lost (its connection failed): stop the single-writer tasks."""
        self.actions.set_executor(None)
        self.jobs.leading = False
        await self.autosleep.stop()
        await self.retention.stop()
        await self.jobs.stop()
        self.rollup.follow()
        await self.alerts.follow()

    async def resync(self) -> None:
        """Several servers: repair what a missed notice left stale, take ended jobs."""
        await self.registry.resync()
        await self.actions.refresh_open()
        await self.site_config.on_notice({})  # one row: re-read rather than compared
        self._resyncs += 1
        # One query per executing action: only every SWEEP_EVERY-th time (a missed
        # jobs_ended notice costs up to 30 s, never a result).
        if self.leader.is_leader and self._resyncs % SWEEP_EVERY == 0:
            executing = [
                int(d["id"]) for d in self.actions.open_actions() if d["state"] == EXECUTING
            ]
            await self.jobs.collect_ended(executing)

    async def stop(self) -> None:
        """Drain the bus, stop live tasks, close the engine."""
        if self.settings.replica:
            await stop_replica(self)
            return
        await self.leader.stop_trying()  # stopping: this server must not take over now
        await cancel_task(self._resync)
        self._resync = None
        await self.bus.stop()
        await self.autosleep.stop()
        await self.actions.stop()
        await self.retention.stop()
        await self.jobs.stop()
        await self.rollup.stop()  # the leader's last flush
        await self.alerts.stop()
        await self.notifier.stop()
        await self.leader.stop()  # released only now: the next leader finds it all written
        await self.live.stop()
        await self.audit.stop()
        await self.engine.dispose()
        heap.unfreeze()


def make_bus(settings: Settings) -> Bus:
    """The ingest bus the settings name: embedded (default) or NATS JetStream."""
    if not settings.bus or settings.bus == "embedded":
        # PostgreSQL takes a second transaction while the server applies the first's rows;
        # SQLite has one writer, and a second would only wait for the file lock.
        writers = 2 if settings.db_url.startswith("postgres") else 1
        return EmbeddedBus(max_rows=settings.ingest_max_batch, writers=writers)
    if settings.bus.startswith(("nats://", "tls://")):
        return NatsBus.from_settings(settings)
    raise BadRequest(
        f"unknown bus {settings.bus!r}: use 'embedded' or nats://host:port",
        code="ERR_CONFIG_INVALID",
    )
