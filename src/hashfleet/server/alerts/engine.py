"""The alert engine: rules evaluated on every stored snapshot, alerts kept open while they hold.

``observe`` runs synchronously after each ingest commit. For each new row it evaluates the
rules of the thing's type and, per ``(thing_id, code)``, opens an alert, keeps it (same id
and ``created_at``; severity and description may change) or closes it into history. Changes
are queued and written in batches by a background task, which also runs the timed checks
(snapshot missing, forgotten things). Open alerts are served on the live ``alerts`` channel.

With several servers on one store only the leader evaluates (``leading``), so an alert is
opened, and notified, once. A follower's engine reads the open alerts from the store every
``follow_every_s`` instead and publishes what changed on its ``alerts`` channel, so
``GET /api/alerts`` and the WebSocket agree on every server (a follower lags the leader by
up to ``flush_every_s + follow_every_s``). :meth:`lead` and :meth:`follow` switch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.ids import new_id
from hashfleet.core.tasks import cancel_task
from hashfleet.model.alert import SEVERITIES, Alert, severity_rank
from hashfleet.server.alerts.rules import (
    SCREENS,
    SNAPSHOT_MISSING,
    Ctx,
    Finding,
    Rule,
    RuleSet,
    Screen,
)
from hashfleet.server.ingest.rows import full_doc
from hashfleet.server.leader import Fence, no_fence
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.store.alerts import open_alerts, save_alerts

log = logging.getLogger(__name__)

ALERTS_CHANNEL = "alerts"
OPENED = "opened"
CLOSED = "closed"
NAME_MAX = 128  # the width of alerts.name

Notify = Callable[[str, Alert], None]
Found = dict[str, tuple[Rule, Finding]]
_UNSCREENED: Any = object()


class AlertEngine:
    """Open alerts in memory, their changes queued for the store and the live channel."""

    def __init__(
        self,
        engine: AsyncEngine,
        live: LiveIndex,
        config: Mapping[str, Any] | None = None,
        notify: Notify | None = None,
        *,
        flush_every_s: float = 1.0,
        check_every_s: float = 5.0,
        follow_every_s: float = 2.0,
    ) -> None:
        self.engine = engine
        self.live = live
        self.rules = RuleSet(config)  # a bad config fails start-up with ERR_CONFIG_INVALID
        self.notify = notify
        self.flush_every_s = flush_every_s
        self.check_every_s = check_every_s
        self._open: dict[str, dict[str, Alert]] = {}  # thing_id → code → alert
        self._by_id: dict[str, Alert] = {}  # the same open alerts by id
        self._seen: dict[str, int] = {}  # latest ts evaluated per thing
        # Per thing type: its rules' screens (None: a rule has none), compiled on first use.
        self._screens: dict[str, tuple[tuple[Screen, ...], tuple[Screen, ...]] | None] = {}
        # id → (latest state, not yet inserted); written by the next flush.
        self._pending: dict[str, tuple[Alert, bool]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.flush_failures = 0
        # Taken in each write's transaction (state.py: the leader's fence with several
        # servers): a server no longer leading writes nothing.
        self.fence: Fence = no_fence
        self.started_at = 0  # ms; no snapshot is "missing" before a window has passed since
        self.leading = True
        self.follow_every_s = follow_every_s
        self.reloads = 0
        live.provide(ALERTS_CHANNEL, self)

    # -- start-up and background ----------------------------------------------------------

    async def load(self) -> None:
        """Take the open alerts from the store (they keep their ids across restarts)."""
        for alert in sorted(await open_alerts(self.engine), key=lambda a: a.created_at):
            self._open.setdefault(alert.thing_id, {})[alert.code] = alert
            self._by_id[alert.id] = alert

    def start(self) -> None:
        """Start the flush-and-check task."""
        if self._task is None:
            self.started_at = now_ms()
            self._task = asyncio.create_task(self._run(), name="alerts")

    async def stop(self) -> None:
        """Stop the task and write what is still queued."""
        await cancel_task(self._task)
        self._task = None
        await self.flush()

    async def _run(self) -> None:
        since_check = 0.0
        while True:
            if not self.leading:
                await asyncio.sleep(self.follow_every_s)
                try:
                    if not self.leading:
                        await self.reload()
                except Exception:
                    log.exception("reading the open alerts failed; retrying")
                continue
            await asyncio.sleep(self.flush_every_s)
            if not self.leading:
                continue
            since_check += self.flush_every_s
            try:
                if since_check >= self.check_every_s:
                    since_check = 0.0
                    self.check()
                await self.flush()
            except Exception:
                log.exception("alert flush failed; retrying in %.0f s", self.flush_every_s)

    async def flush(self) -> int:
        """Write queued changes in one transaction; on failure they stay queued."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            new = [a for a, is_new in batch.values() if is_new]
            changed = [a for a, is_new in batch.values() if not is_new]
            try:
                await save_alerts(self.engine, new, changed, self.fence)
            except BaseException:
                # Nothing of the batch was committed: merge it under what came since.
                self.flush_failures += 1
                for alert_id, (alert, is_new) in batch.items():
                    later = self._pending.get(alert_id)
                    self._pending[alert_id] = (later[0], is_new) if later else (alert, is_new)
                raise
            return len(batch)

    # -- several servers ------------------------------------------------------------------

    async def lead(self) -> None:
        """Start evaluating: take the open alerts as stored (the previous leader's)."""
        await self.reload()
        self._seen.clear()
        self.started_at = now_ms()
        self.leading = True

    async def follow(self) -> None:
        """Stop evaluating (another server leads); write what is queued if the store lets us."""
        self.leading = False
        try:
            # Bounded: leadership is usually lost because the store is out of reach.
            await asyncio.wait_for(self.flush(), 5.0)
        except Exception:  # noqa: BLE001 - the new leader evaluates again
            log.warning("%d alert changes not written on losing leadership", len(self._pending))
        self._pending.clear()

    async def reload(self) -> int:
        """Make the open alerts those of the store; marks the changes; returns how many."""
        stored = {a.id: a for a in await open_alerts(self.engine)}
        changed = [i for i in self._by_id if i not in stored]
        changed += [i for i, a in stored.items() if self._by_id.get(i) != a]
        if changed:
            self._open = {}
            self._by_id = {}
            for alert in sorted(stored.values(), key=lambda a: a.created_at):
                self._open.setdefault(alert.thing_id, {})[alert.code] = alert
                self._by_id[alert.id] = alert
            for alert_id in changed:
                self.live.hub.mark(ALERTS_CHANNEL, alert_id)
        self.reloads += 1
        return len(changed)

    # -- evaluation -----------------------------------------------------------------------

    def observe(self, rows: Iterable[dict[str, Any]]) -> None:
        """Evaluate the rules on newly stored snapshot rows (on the leader only)."""
        if not self.leading:
            return
        for row in rows:
            thing_id = row["thing_id"]
            doc = self.live.things.get(thing_id)
            ts = int(row["ts"])
            if doc is None or ts < self._seen.get(thing_id, ts):
                continue  # unknown thing, or older than what was already judged
            self._seen[thing_id] = ts
            err = row.get("err")
            if "view" in row:
                # The common case first: no open alert, and no rule that can find anything
                # in the snapshot's hot values. Then nothing opens, changes or closes.
                view = row["view"]
                if thing_id not in self._open and self._clear(doc, view, err):
                    continue
                snap = full_doc(row) if view is not None else None
            else:
                snap = row["doc"] if "doc" in row else row.get("snap")
            self._evaluate(doc, snap if isinstance(snap, dict) else None, err, ts)

    def _clear(self, doc: dict[str, Any], view: Any, err: str | None) -> bool:
        """Whether no rule of ``doc``'s type can find anything in ``view`` (``None``: the
        poll failed) — False when a rule has no screen."""
        thing_type = str(doc.get("type"))
        screens = self._screens.get(thing_type, _UNSCREENED)
        if screens is _UNSCREENED:
            screens = self._screens[thing_type] = self._compile_screens(thing_type)
        if screens is None:
            return False
        # Without a snapshot only the rules that need none can tell: the others' conditions
        # are unknown, and unknown changes nothing.
        for screen in screens[0] if view is None else screens[1]:
            if screen(view, err, doc):
                return False
        return True

    def _compile_screens(
        self, thing_type: str
    ) -> tuple[tuple[Screen, ...], tuple[Screen, ...]] | None:
        """The screens of ``thing_type``'s rules: those that need no snapshot, and all."""
        without: list[Screen] = []
        every: list[Screen] = []
        for eff in self.rules.for_type(thing_type):
            if eff.rule.periodic:
                continue
            factory = SCREENS.get(eff.rule.code)
            if factory is None:
                return None
            screen = factory(eff.params, self.rules.pools)
            every.append(screen)
            if not eff.rule.needs_snap:
                without.append(screen)
        return tuple(without), tuple(every)

    def _evaluate(
        self, doc: dict[str, Any], snap: dict[str, Any] | None, err: str | None, ts: int
    ) -> None:
        stats = (snap or {}).get("stats")
        stats = stats if isinstance(stats, dict) else {}
        found: Found = {}
        unknown: set[str] = set()  # codes of rules whose condition this row cannot tell
        # One context per row, only its params change per rule: this runs for every row.
        ctx = Ctx(doc, snap or {}, stats, err, ts, {}, self.rules.pools)
        for eff in self.rules.for_type(str(doc.get("type"))):
            rule = eff.rule
            if rule.periodic:
                continue  # snapshot_missing: any row shows snapshots arrive, so it closes
            if rule.needs_snap and snap is None:
                unknown.add(rule.code)
                continue
            ctx.params = eff.params
            try:
                findings = rule.evaluate(ctx, eff.severity)
            except Exception:
                # A rule's bug costs only that rule's verdict on this row.
                log.exception("alert rule %s failed on %s", rule.code, doc["id"])
                unknown.add(rule.code)
                continue
            for code, f in findings.items():
                found[code] = (rule, f)
        self._settle(doc["id"], found, ts, keep=lambda code: self._rule_code(code) in unknown)

    def _rule_code(self, code: str) -> str | None:
        rule = self.rules.rule_of(code)
        return rule.code if rule is not None else None

    def check(self, now: int | None = None) -> None:
        """The timed checks: snapshot missing, and alerts of forgotten things close."""
        if not self.leading:
            return
        now = now_ms() if now is None else now
        for thing_id in [t for t in self._open if t not in self.live.things]:
            self._settle(thing_id, {}, now, keep=lambda code: False)
        window = self.rules.missing_after * self.live.stale_ms
        if now - self.started_at <= window:
            # Just started after downtime: agents have not had the time to resend yet.
            return
        for thing_id, doc in self.live.things.items():
            eff = next(
                (
                    e
                    for e in self.rules.for_type(str(doc.get("type")))
                    if e.rule.code == SNAPSHOT_MISSING
                ),
                None,
            )
            found: Found = {}
            if eff is not None:
                params = {**eff.params, "window_ms": window}
                ctx = Ctx(doc, {}, {}, None, now, params, self.rules.pools)
                found = {c: (eff.rule, f) for c, f in eff.rule.evaluate(ctx, eff.severity).items()}
            if found or SNAPSHOT_MISSING in self._open.get(thing_id, {}):
                self._settle(thing_id, found, now, keep=lambda code: code != SNAPSHOT_MISSING)

    def _settle(self, thing_id: str, found: Found, ts: int, keep: Callable[[str], bool]) -> None:
        """Open, update or close ``thing_id``'s alerts; ``keep`` spares codes not judged."""
        current = self._open.get(thing_id, {})
        for code, was in list(current.items()):
            if code not in found and not keep(code):
                self._close(was, ts)
        for code, (rule, f) in found.items():
            alert = current.get(code)
            name = (f"{rule.name}: {code.split(':', 1)[1]}" if rule.fans_out else rule.name)[
                :NAME_MAX
            ]
            severity = f.severity or rule.severity
            if alert is None:
                self._opened(
                    Alert(
                        id=new_id(),
                        thing_id=thing_id,
                        code=code,
                        severity=severity,
                        name=name,
                        description=f.description,
                        created_at=ts,
                        updated_at=ts,
                        data=dict(f.data),
                    )
                )
            elif (alert.severity, alert.name, alert.description) != (
                severity,
                name,
                f.description,
            ):
                self._put(
                    msgspec.structs.replace(
                        alert,
                        severity=severity,
                        name=name,
                        description=f.description,
                        updated_at=max(ts, alert.updated_at),
                        data=dict(f.data),
                    )
                )

    # -- state changes --------------------------------------------------------------------

    def _put(self, alert: Alert, is_new: bool = False) -> None:
        # Alerts are replaced, never mutated: a notifier may still hold the previous one.
        if alert.closed_at is None:
            self._open.setdefault(alert.thing_id, {})[alert.code] = alert
            self._by_id[alert.id] = alert
        else:
            self._by_id.pop(alert.id, None)
            codes = self._open.get(alert.thing_id, {})
            codes.pop(alert.code, None)
            if not codes:
                self._open.pop(alert.thing_id, None)
        pending = self._pending.get(alert.id)
        self._pending[alert.id] = (alert, is_new or (pending is not None and pending[1]))
        self.live.hub.mark(ALERTS_CHANNEL, alert.id)

    def _opened(self, alert: Alert) -> None:
        self._put(alert, is_new=True)
        self._notify(OPENED, alert)

    def _close(self, alert: Alert, ts: int) -> None:
        at = max(ts, alert.updated_at)
        closed = msgspec.structs.replace(alert, closed_at=at, updated_at=at)
        self._put(closed)
        self._notify(CLOSED, closed)

    def _notify(self, event: str, alert: Alert) -> None:
        if self.notify is None:
            return
        try:
            self.notify(event, alert)
        except Exception:
            # A notifier's failure must not stop alerts from opening and closing.
            log.exception("alert notifier failed on %s %s", event, alert.id)

    # -- reading --------------------------------------------------------------------------

    def active(self, thing_id: str | None = None) -> list[Alert]:
        """Open alerts (of one thing), most severe first, then oldest first."""
        if thing_id is not None:
            alerts = list(self._open.get(thing_id, {}).values())
        else:
            alerts = [a for codes in self._open.values() for a in codes.values()]
        alerts.sort(key=lambda a: (severity_rank(a.severity), a.created_at, a.id))
        return alerts

    def get(self, alert_id: str) -> Alert | None:
        """An open alert by id."""
        return self._by_id.get(alert_id)

    def severities_of(self, thing_id: str) -> list[str]:
        """The severity of each open alert of ``thing_id`` (for the ``alerts_aggr`` stats)."""
        return [a.severity for a in self._open.get(thing_id, {}).values()]

    def counts_by_severity(self, thing_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Open alerts per severity over ``thing_ids`` (every thing when ``None``)."""
        counts = dict.fromkeys(SEVERITIES, 0)
        ids = self._open.keys() if thing_ids is None else thing_ids
        for thing_id in ids:
            for alert in self._open.get(thing_id, {}).values():
                counts[alert.severity] = counts.get(alert.severity, 0) + 1
        return counts

    # -- the live channel -----------------------------------------------------------------

    def full_state(self) -> Any:
        """The ``alerts`` channel's snapshot: every open alert."""
        return {"alerts": [a.to_dict() for a in self.active()]}

    def diff(self, keys: set[str]) -> Any:
        """Alerts opened or changed since the last diff, and ids of those closed."""
        upsert, remove = [], []
        for alert_id in sorted(keys):
            alert = self.get(alert_id)
            if alert is None:
                remove.append(alert_id)
            else:
                upsert.append(alert.to_dict())
        return {"upsert": upsert, "remove": remove}
