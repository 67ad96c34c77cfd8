"""The running server's parts, built and wired in one place."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import BadRequest
from hashfleet.core.files import make_private_dir
from hashfleet.core.ids import new_id
from hashfleet.core.settings import Settings
from hashfleet.server.actions.executor import ActionExecutor
from hashfleet.server.actions.service import ActionService
from hashfleet.server.alerts.engine import AlertEngine
from hashfleet.server.alerts.notify.router import NotifyRouter
from hashfleet.server.audit.writer import AuditWriter
from hashfleet.server.auth.service import AuthService
from hashfleet.server.bus.base import Bus
from hashfleet.server.bus.embedded import EmbeddedBus
from hashfleet.server.bus.nats import NatsBus
from hashfleet.server.history_config import HistoryConfig, load_history_config
from hashfleet.server.ingest.writer import Writer
from hashfleet.server.jobs.direct import DirectCalls
from hashfleet.server.jobs.dispatcher import JobDispatcher
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import Registry
from hashfleet.server.replica import ReplicaRefresher, start_replica, stop_replica
from hashfleet.server.series.retention import Retention
from hashfleet.server.series.rollup import Rollup
from hashfleet.server.series.spec import StatSpec
from hashfleet.server.series.taillog import History
from hashfleet.server.settings.autosleep import AutoSleep
from hashfleet.server.settings.service import SiteSettings
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.kv import setdefault_value

log = logging.getLogger(__name__)


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

    async def start(self) -> None:
        """Migrate the store, load the registry, start the bus and live tasks."""
        if self.settings.replica:
            await start_replica(self)  # no migrations, nothing that writes
            return
        await migrate(self.engine)
        self.instance_id = str(await setdefault_value(self.engine, "instance_id", new_id()))
        await self.registry.load()
        await self.actions.load()
        await self.site_config.load()
        await self.autosleep.load()
        await self.jobs.load()
        await self.rollup.load()
        await self.alerts.load()
        self.notifier.prime(self.alerts.active())
        await self.bus.start(self.writer)
        self.live.start()
        self.rollup.start()
        self.alerts.start()
        self.notifier.start()
        self.retention.start()
        self.jobs.start()
        await self.executor.recover()
        self.actions.start()
        self.autosleep.start()
        self.audit.start()
        log.info("server %s started with %d things", self.instance_id, len(self.live.things))

    async def stop(self) -> None:
        """Drain the bus, stop live tasks, close the engine."""
        if self.settings.replica:
            await stop_replica(self)
            return
        await self.bus.stop()
        await self.autosleep.stop()
        await self.actions.stop()
        await self.retention.stop()
        await self.jobs.stop()
        await self.rollup.stop()
        await self.alerts.stop()
        await self.notifier.stop()
        await self.live.stop()
        await self.audit.stop()
        await self.engine.dispose()


def make_bus(settings: Settings) -> Bus:
    """The ingest bus the settings name: embedded (default) or NATS JetStream."""
    if not settings.bus or settings.bus == "embedded":
        return EmbeddedBus(max_rows=settings.ingest_max_batch)
    if settings.bus.startswith(("nats://", "tls://")):
        return NatsBus(
            settings.bus,
            stream=settings.nats_stream,
            subject=settings.nats_subject,
            consumer=settings.nats_consumer,
            workers=settings.ingest_workers,
            max_rows=settings.ingest_max_batch,
            max_bytes=settings.nats_max_bytes,
            max_age_s=settings.nats_max_age_s,
            duplicate_window_s=settings.nats_duplicate_window_s,
            ack_wait_s=settings.nats_ack_wait_s,
            replicas=settings.nats_replicas,
        )
    raise BadRequest(
        f"unknown bus {settings.bus!r}: use 'embedded' or nats://host:port",
        code="ERR_CONFIG_INVALID",
    )
