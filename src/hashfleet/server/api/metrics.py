"""``GET /metrics``: the fleet in the Prometheus text exposition format.

Every scrape reads the live index, the alert engine and the writer's counters as they are
at that moment; nothing is sampled in between. Each app gets its own ``CollectorRegistry``
(never the process-wide default), so several servers can run in one process.

Fleet series are grouped by thing ``type`` and ``rack``. Per-thing series are bounded:
at most ``Settings.metrics_max_things`` things, the lowest ids first, and
``hashfleet_metrics_things_truncated`` says how many were left out.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hashfleet import __version__
from hashfleet.model.alert import SEVERITIES
from hashfleet.model.snapshot import STATUS_ONLINE, STATUSES
from hashfleet.server.api.deps import current_principal, get_state
from hashfleet.server.live.latest import hot_of
from hashfleet.server.state import ServerState

router = APIRouter(tags=["metrics"])

GROUP_LABELS = ["type", "rack"]
THING_LABELS = ["thing_id", "type", "rack"]
TERA = 1e12
# The classic text format that every Prometheus (2.x and 3.x) reads; the client's "latest"
# (1.0.0) only adds UTF-8 metric names, which none of ours need.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Every metric family the collector can expose (counters without their ``_total``).
FAMILIES = (
    "hashfleet_build_info",
    "hashfleet_things_registered",
    "hashfleet_things",
    "hashfleet_hashrate_hashes_per_second",
    "hashfleet_power_watts",
    "hashfleet_efficiency_joules_per_terahash",
    "hashfleet_alerts_open",
    "hashfleet_alerts_flush_failures",
    "hashfleet_ingest_snapshots_stored",
    "hashfleet_ingest_batches_pending",
    "hashfleet_notifications",
    "hashfleet_notifications_queued",
    "hashfleet_metrics_things_truncated",
    "hashfleet_thing_online",
    "hashfleet_thing_hashrate_hashes_per_second",
    "hashfleet_thing_power_watts",
    "hashfleet_thing_chip_temperature_celsius",
)


@dataclass
class Reading:
    """What the metrics take from one thing's latest snapshot."""

    status: str
    # (algorithm, coin, H/s) per hashing stream; H/s is 0 unless the thing is online.
    streams: list[tuple[str, str, float]]
    power_w: float | None  # None: the thing reports no power; 0 unless online


def read_thing(doc: dict[str, Any]) -> Reading:
    """A thing's status, hashrate streams and power, as the metrics count them.

    Only online things hash and draw power here (as in the live aggregates); a thing that
    is not online keeps its series at 0 so graphs drop instead of ending.
    """
    hot = hot_of(doc.get("last"))
    online = hot.status == STATUS_ONLINE
    rows = hot.streams or ((hot.coin or "unknown", hot.algorithm or "unknown", hot.hashrate),)
    streams: list[tuple[str, str, float]] = []
    for coin, algorithm, hashrate in rows:
        if hashrate is None:
            continue  # not a hashing device (meter, sensor…), or a stream that says nothing
        streams.append((algorithm, coin, hashrate if online else 0.0))
    power = hot.power_w
    if power is not None and not online:
        power = 0.0
    return Reading(hot.status, streams, power)


def chip_temp_of(doc: dict[str, Any]) -> float | None:
    """The hottest chip of an online thing; ``None`` when it is not online or says nothing.

    A thing that is not online reports no temperature: its last reading is no longer true.
    Same rule as the temp_chip alert: the boards' chips, else the snapshot's maximum.
    """
    hot = hot_of(doc.get("last"))
    return hot.temp_chip if hot.status == STATUS_ONLINE else None


@dataclass
class Group:
    """Totals of the things of one ``(type, rack)``."""

    ids: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    power_w: float = 0.0
    hashrate: defaultdict[tuple[str, str], float] = field(
        default_factory=lambda: defaultdict(float)
    )
    # Efficiency inputs per algorithm, from online things that hash one algorithm and
    # report their power: summing watts and H/s first keeps the ratio a true fleet ratio.
    eff_power_w: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    eff_hashrate: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, thing_id: str, reading: Reading) -> None:
        """Count one thing in."""
        self.ids.append(thing_id)
        self.statuses[reading.status] += 1
        if reading.power_w is not None:
            self.power_w += reading.power_w
        for algorithm, coin, hashrate in reading.streams:
            self.hashrate[(algorithm, coin)] += hashrate
        algorithms = {a for a, _, _ in reading.streams}
        total = sum(hs for _, _, hs in reading.streams)
        if len(algorithms) == 1 and total > 0 and reading.power_w and reading.power_w > 0:
            # A rig mining two algorithms has one power reading: it cannot be split fairly.
            (algorithm,) = algorithms
            self.eff_power_w[algorithm] += reading.power_w
            self.eff_hashrate[algorithm] += total


def _labels(doc: dict[str, Any]) -> tuple[str, str]:
    return str(doc.get("type") or ""), str(doc.get("rack") or "")


class FleetCollector(Collector):
    """Builds every metric family from the server's live state at scrape time."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        state = self.state
        things = state.live.things
        readings = {thing_id: read_thing(doc) for thing_id, doc in things.items()}
        groups: dict[tuple[str, str], Group] = defaultdict(Group)
        for thing_id, doc in things.items():
            groups[_labels(doc)].add(thing_id, readings[thing_id])
        keys = sorted(groups)

        build = GaugeMetricFamily(
            "hashfleet_build_info",
            "Version of this hashfleet server and its instance id (value is always 1).",
            labels=["version", "instance_id"],
        )
        build.add_metric([__version__, state.instance_id], 1)
        yield build

        yield from self._fleet(groups, keys)
        yield from self._alerts(groups, keys)
        yield from self._counters()
        yield from self._per_thing(things, readings)

    def _fleet(
        self, groups: dict[tuple[str, str], Group], keys: list[tuple[str, str]]
    ) -> Iterator[Metric]:
        registered = GaugeMetricFamily(
            "hashfleet_things_registered", "Things registered.", labels=GROUP_LABELS
        )
        by_status = GaugeMetricFamily(
            "hashfleet_things",
            "Things by status (online, offline, error, sleeping).",
            labels=[*GROUP_LABELS, "status"],
        )
        hashrate = GaugeMetricFamily(
            "hashfleet_hashrate_hashes_per_second",
            "Hashrate of online things in H/s, per algorithm and coin (never summed across "
            "algorithms).",
            labels=[*GROUP_LABELS, "algorithm", "coin"],
        )
        power = GaugeMetricFamily(
            "hashfleet_power_watts", "Power drawn by online things, in watts.", labels=GROUP_LABELS
        )
        efficiency = GaugeMetricFamily(
            "hashfleet_efficiency_joules_per_terahash",
            "Energy per hash in J/TH: watts over TH/s of online things that hash one "
            "algorithm and report their power.",
            labels=[*GROUP_LABELS, "algorithm"],
        )
        for key in keys:
            group = groups[key]
            labels = list(key)
            registered.add_metric(labels, len(group.ids))
            for status in (*STATUSES, *sorted(set(group.statuses) - set(STATUSES))):
                by_status.add_metric([*labels, status], group.statuses[status])
            power.add_metric(labels, round(group.power_w, 3))
            for (algorithm, coin), hs in sorted(group.hashrate.items()):
                hashrate.add_metric([*labels, algorithm, coin], hs)
            for algorithm, hs in sorted(group.eff_hashrate.items()):
                efficiency.add_metric(
                    [*labels, algorithm], group.eff_power_w[algorithm] / (hs / TERA)
                )
        yield from (registered, by_status, hashrate, power, efficiency)

    def _alerts(
        self, groups: dict[tuple[str, str], Group], keys: list[tuple[str, str]]
    ) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hashfleet_alerts_open", "Open alerts by severity.", labels=[*GROUP_LABELS, "severity"]
        )
        engine = self.state.alerts
        left = Counter(engine.counts_by_severity())
        for key in keys:
            counts = engine.counts_by_severity(groups[key].ids)
            left.subtract(counts)
            for severity in SEVERITIES:
                family.add_metric([*key, severity], counts.get(severity, 0))
        # Alerts of a thing forgotten since its last check close within seconds; until
        # then they are counted with empty type and rack rather than hidden.
        if any(n > 0 for n in left.values()):
            for severity in SEVERITIES:
                family.add_metric(["", "", severity], max(left[severity], 0))
        yield family

    def _counters(self) -> Iterator[Metric]:
        stored = CounterMetricFamily(
            "hashfleet_ingest_snapshots_stored",
            "Snapshot rows stored since the server started (duplicates not counted).",
        )
        stored.add_metric([], self.state.writer.rows_written)
        yield stored
        failures = CounterMetricFamily(
            "hashfleet_alerts_flush_failures",
            "Failed writes of alert changes to the store since the server started.",
        )
        failures.add_metric([], self.state.alerts.flush_failures)
        yield failures
        pending = GaugeMetricFamily(
            "hashfleet_ingest_batches_pending",
            "Ingest batches accepted and waiting for the writer (a growing value: the store "
            "cannot keep up).",
        )
        pending.add_metric([], self.state.bus.pending())
        yield pending
        yield from self._notifications()

    def _notifications(self) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "hashfleet_notifications",
            "Alert notifications per notifier and outcome since the server started: sent, "
            "failed (gave up after its retries), dropped (queue full or stopped), retried.",
            labels=["notifier", "kind", "outcome"],
        )
        queued = GaugeMetricFamily(
            "hashfleet_notifications_queued",
            "Alert notifications waiting to be delivered, per notifier.",
            labels=["notifier", "kind"],
        )
        for name, st in sorted(self.state.notifier.stats().items()):
            for outcome in ("sent", "failed", "dropped", "retried"):
                sent.add_metric([name, str(st["type"]), outcome], st[outcome])
            queued.add_metric([name, str(st["type"])], st["queued"])
        yield sent
        yield queued

    def _per_thing(
        self, things: dict[str, dict[str, Any]], readings: dict[str, Reading]
    ) -> Iterator[Metric]:
        limit = max(0, self.state.settings.metrics_max_things)
        # Lowest ids first: the same things every scrape, so series do not flap.
        chosen = sorted(things) if limit >= len(things) else heapq.nsmallest(limit, things)
        truncated = GaugeMetricFamily(
            "hashfleet_metrics_things_truncated",
            "Things left out of the per-thing series (HASHFLEET_METRICS_MAX_THINGS).",
        )
        truncated.add_metric([], len(things) - len(chosen))
        yield truncated

        online = GaugeMetricFamily(
            "hashfleet_thing_online", "1 when the thing is online, else 0.", labels=THING_LABELS
        )
        hashrate = GaugeMetricFamily(
            "hashfleet_thing_hashrate_hashes_per_second",
            "Hashrate of one thing in H/s per algorithm (0 unless online).",
            labels=[*THING_LABELS, "algorithm"],
        )
        power = GaugeMetricFamily(
            "hashfleet_thing_power_watts",
            "Power of one thing in watts (0 unless online).",
            labels=THING_LABELS,
        )
        temp = GaugeMetricFamily(
            "hashfleet_thing_chip_temperature_celsius",
            "Hottest chip of one online thing, in °C.",
            labels=THING_LABELS,
        )
        for thing_id in chosen:
            reading = readings[thing_id]
            labels = [thing_id, *_labels(things[thing_id])]
            online.add_metric(labels, 1 if reading.status == STATUS_ONLINE else 0)
            per_algorithm: defaultdict[str, float] = defaultdict(float)
            for algorithm, _, hs in reading.streams:
                per_algorithm[algorithm] += hs
            for algorithm, hs in sorted(per_algorithm.items()):
                hashrate.add_metric([*labels, algorithm], hs)
            if reading.power_w is not None:
                power.add_metric(labels, reading.power_w)
            # Read only for the things shown: the boards are the costliest part of a scrape.
            chip_temp = chip_temp_of(things[thing_id])
            if chip_temp is not None:
                temp.add_metric(labels, chip_temp)
        yield from (online, hashrate, power, temp)


def registry_of(app: FastAPI, state: ServerState) -> CollectorRegistry:
    """This app's registry, made on its first scrape."""
    registry: CollectorRegistry | None = getattr(app.state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FleetCollector(state))
        app.state.metrics_registry = registry
    return registry


async def metrics_caller(request: Request) -> None:
    """Anyone when ``metrics_public``; otherwise any user or agent token (401 without)."""
    if not get_state(request).settings.metrics_public:
        await current_principal(request)


@router.get(
    "/metrics",
    summary="Fleet metrics for Prometheus (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
async def metrics(
    request: Request,
    state: ServerState = Depends(get_state),
    _caller: None = Depends(metrics_caller),
) -> Response:
    """The metrics as they are now."""
    # Collected here on the event loop, not in a worker thread: the live index and the
    # alert engine are only changed on this loop, so a scrape sees one consistent moment.
    body = generate_latest(registry_of(request.app, state))
    return Response(body, media_type=CONTENT_TYPE)
