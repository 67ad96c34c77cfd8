"""Auto-sleep: keep the site under its power limit by putting the least efficient miners
to sleep, and wake them once power has stayed low.

Every ``interval_s`` (30 s) the automation reads the fleet's online power from the live
aggregates and, when the global config has ``isAutoSleepAllowed`` and an
``autoSleep.maxSitePowerW``:

- power above ``maxSitePowerW`` for ``holdMinutes`` → one ``setPowerMode ["sleep"]``
  action on the least efficient online miners (highest J/TH) matching
  ``autoSleep.query``, just enough of them to get under the limit;
- power below ``resumeBelowW`` for ``holdMinutes`` → one ``setPowerMode ["normal"]``
  action on the things the automation put to sleep.

Actions go through :meth:`ActionService.push` as the principal ``automation`` (an
operator), so they are voted like anyone's: the automation's vote counts as one, racks
that ask for more votes wait for people. At most one automation action is open at a time;
while it is, the automation only watches it. When it ends, the targets that completed
change the set of sleeping things; a cancelled action changes nothing. Both hold timers
start again after every action, so the next decision is made on readings taken after it.

Persisted in kv ``autoSleepState``: ``{"slept": [ids], "pending": {id, mode, ids} | null}``
(survives restarts); the hold timers are kept in memory only (a restart waits a full hold
again, which errs on the side of doing nothing).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hashfleet.core.clock import now_ms
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.model.snapshot import STATUS_ONLINE
from hashfleet.server.actions.model import COMPLETED, DONE, OPEN_STATES
from hashfleet.server.actions.service import ActionService
from hashfleet.server.actions.targets import family_capabilities
from hashfleet.server.auth.principal import Principal
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.live.latest import hot_of
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.settings.service import SiteSettings
from hashfleet.server.store import kv

log = logging.getLogger(__name__)

STATE_KEY = "autoSleepState"
ACTION = "setPowerMode"
METHOD = "set_power_mode"
SLEEP = "sleep"
WAKE = "normal"
DEFAULT_INTERVAL_S = 30.0
# The automation acts as a person of its own, visible as creator and voter of its actions.
AUTOMATION = Principal(kind="user", name="automation", role="operator")

Clock = Callable[[], int]


@dataclass(frozen=True)
class Candidate:
    """An online miner that could be put to sleep."""

    id: str
    power_w: float
    j_per_th: float  # inf when it draws power but reports no hashrate


def efficiency(stats: dict[str, Any]) -> tuple[float, float] | None:
    """``(power W, J/TH)`` of a snapshot's stats; None without a power reading.

    A thing that draws power but hashes nothing is the least efficient of all (J/TH
    infinite). Without a power reading, sleeping it would not lower the measured power.
    """
    power = stats.get("power_w")
    if isinstance(power, bool) or not isinstance(power, (int, float)):
        return None
    if not math.isfinite(power) or power <= 0:
        return None
    hashrate = stats.get("hashrate")
    if isinstance(hashrate, bool) or not isinstance(hashrate, (int, float)):
        hashrate = 0.0
    th = hashrate / 1e12 if math.isfinite(hashrate) else 0.0
    return float(power), (power / th if th > 0 else math.inf)


def candidates(
    live: LiveIndex, query: Any, exclude: set[str], can_write: Callable[[str], bool]
) -> list[Candidate]:
    """Online things matching ``query`` that can be put to sleep, least efficient first.

    Kept: online, a rack, a driver family with ``set_power_mode``, a type the automation
    may write, a power reading, not in ``exclude``. Ties: more power first (fewer
    sleepers), then by id (the same fleet always gives the same choice).
    """
    pred = compile_query(query or {})
    out = []
    for doc in live.things.values():
        thing_id = str(doc["id"])
        if thing_id in exclude or not doc.get("rack") or not pred(doc):
            continue
        hot = hot_of(doc.get("last"))
        if hot.status != STATUS_ONLINE:
            continue
        family = (doc.get("opts") or {}).get("family")
        if not isinstance(family, str):
            continue
        if METHOD not in family_capabilities(family) or not can_write(str(doc.get("type"))):
            continue
        eff = efficiency({"power_w": hot.power_w, "hashrate": hot.hashrate})
        if eff is not None:
            out.append(Candidate(thing_id, eff[0], eff[1]))
    out.sort(key=lambda c: (-c.j_per_th, -c.power_w, c.id))
    return out


def pick_sleepers(ranked: list[Candidate], excess_w: float) -> list[str]:
    """The first of ``ranked`` whose power adds up to at least ``excess_w`` (all if short)."""
    chosen: list[str] = []
    shed = 0.0
    for cand in ranked:
        if shed >= excess_w:
            break
        chosen.append(cand.id)
        shed += cand.power_w
    return chosen


class AutoSleep:
    """The auto-sleep automation of one server; ``tick`` is one decision."""

    def __init__(
        self,
        site: SiteSettings,
        live: LiveIndex,
        actions: ActionService,
        *,
        clock: Clock = now_ms,
        interval_s: float = DEFAULT_INTERVAL_S,
        principal: Principal = AUTOMATION,
    ) -> None:
        self.site = site
        self.live = live
        self.actions = actions
        self.clock = clock
        self.interval_s = interval_s
        self.principal = principal
        self.slept: set[str] = set()
        self.pending: dict[str, Any] | None = None
        self.above_since: int | None = None
        self.below_since: int | None = None
        self._short_warned = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """The things put to sleep and the open action, as the last run left them."""
        stored = await kv.get_value(self.site.engine, STATE_KEY)
        if not isinstance(stored, dict):
            return
        slept = stored.get("slept")
        self.slept = {s for s in slept if isinstance(s, str)} if isinstance(slept, list) else set()
        pending = stored.get("pending")
        ok = isinstance(pending, dict) and isinstance(pending.get("id"), int)
        self.pending = pending if ok else None

    def start(self) -> None:
        """Run ``tick`` every ``interval_s`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auto-sleep")

    async def stop(self) -> None:
        """Stop the loop (an action it pushed stays, and is picked up at the next start)."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        await run_every(self.interval_s, self.tick, "auto-sleep tick")

    # -- one decision ---------------------------------------------------------------------

    async def tick(self) -> dict[str, Any] | None:
        """Look at the power once; returns pushAction's answer when an action was pushed."""
        async with self._lock:
            return await self._tick()

    async def _tick(self) -> dict[str, Any] | None:
        config = self.site.config
        auto = config["autoSleep"]
        high = auto["maxSitePowerW"]
        if not config["isAutoSleepAllowed"] or high is None:
            self._reset_timers()
            return None
        if self.pending is not None and not await self._settle():
            return None  # one open automation action at a time
        now = self.clock()
        hold_ms = int(float(auto["holdMinutes"]) * 60_000)
        power = self.live.aggregates.total_power_w
        low = auto["resumeBelowW"]
        if power > high:
            self.below_since = None
            self.above_since = now if self.above_since is None else self.above_since
            if now - self.above_since >= hold_ms:
                return await self._sleep(power - high, auto["query"])
        elif low is not None and power < low and self.slept:
            self.above_since = None
            self.below_since = now if self.below_since is None else self.below_since
            if now - self.below_since >= hold_ms:
                return await self._wake()
        else:
            self._reset_timers()
        return None

    async def _settle(self) -> bool:
        """Whether the pending action has ended (its outcome then applied); False if open."""
        assert self.pending is not None
        doc = await self.actions.get(int(self.pending["id"]))
        if doc is not None and doc["state"] in OPEN_STATES:
            return False
        if doc is not None and doc["state"] == DONE:
            results = doc.get("results") or {}
            completed = {t for t, r in results.items() if (r or {}).get("state") == COMPLETED}
            if self.pending.get("mode") == SLEEP:
                self.slept |= completed
            else:
                self.slept -= completed
        # Cancelled (or gone): nothing happened on the devices.
        self.pending = None
        self._reset_timers()
        await self._save()
        return True

    async def _sleep(self, excess_w: float, query: Any) -> dict[str, Any] | None:
        ranked = candidates(self.live, query, self.slept, lambda t: self.principal.can(t, "w"))
        ids = pick_sleepers(ranked, excess_w)
        if not ids:
            if not self._short_warned:
                log.warning("auto-sleep: power is over the limit but no miner can be slept")
                self._short_warned = True
            return None
        self._short_warned = False
        return await self._push(SLEEP, ids)

    async def _wake(self) -> dict[str, Any] | None:
        gone = {t for t in self.slept if t not in self.live.things}
        if gone:
            self.slept -= gone  # forgotten things cannot be woken
            await self._save()
        if not self.slept:
            return None
        return await self._push(WAKE, sorted(self.slept))

    async def _push(self, mode: str, ids: list[str]) -> dict[str, Any] | None:
        answer: dict[str, Any] = await self.actions.push(
            self.principal, {"id": {"$in": ids}}, ACTION, [mode]
        )
        self._reset_timers()
        if answer["id"] is None:
            log.warning("auto-sleep: %s action on %d things had no target", mode, len(ids))
            return answer
        targets = answer["data"]["targets"]
        called = sorted(c["id"] for t in targets.values() for c in t["calls"])
        self.pending = {"id": answer["id"], "mode": mode, "ids": called}
        await self._save()
        log.info("auto-sleep: action %s sets %d things to %s", answer["id"], len(called), mode)
        return answer

    def _reset_timers(self) -> None:
        self.above_since = None
        self.below_since = None

    async def _save(self) -> None:
        await kv.set_value(
            self.site.engine, STATE_KEY, {"slept": sorted(self.slept), "pending": self.pending}
        )
