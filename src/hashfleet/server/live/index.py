"""The live index: every thing's registry document and latest snapshot, in memory.

Updates come from the ingest writer after each commit. Aggregates are kept incrementally,
things with no snapshot inside the stale window turn offline, and every change is marked
on the channels that watch it (``fleet``, ``aggregates``, ``thing:<id>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol

from hashfleet.core.clock import now_ms
from hashfleet.model.snapshot import STATUS_OFFLINE
from hashfleet.server.live.aggregates import Aggregates
from hashfleet.server.live.channels import ChannelHub
from hashfleet.server.live.latest import Latest, hot_of
from hashfleet.server.live.lookup import ThingLookup
from hashfleet.server.live.packed import PackedObject
from hashfleet.server.live.status import summary_row

FLEET = "fleet"
AGGREGATES = "aggregates"
THING_PREFIX = "thing:"
# A query an index narrows to under 1/_FEW_RATIO of the things sorts its candidates itself.
_FEW_RATIO = 8
# Tags the registry gives each thing that no other thing carries (registry.default_tags).
_UNIQUE_TAGS = ("id-", "code-")

log = logging.getLogger(__name__)


def _shared(tag: Any) -> Any:
    """One copy of a tag many things carry (not of the registry's own id-/code- tags)."""
    if tag.__class__ is not str or tag.startswith(_UNIQUE_TAGS):
        return tag
    return sys.intern(tag)


class ChannelProvider(Protocol):
    """A channel served by another part of the server (alerts) through the index's hub."""

    def full_state(self) -> Any:
        """What a new subscriber gets first."""

    def diff(self, keys: set[str]) -> Any:
        """The message for the keys marked since the last diff."""


class LiveIndex:
    """Latest state per thing plus fleet aggregates, published on channels."""

    # Names of provided channels; class-wide because valid_channel is a static check.
    provided: ClassVar[set[str]] = set()

    def __init__(self, stale_ms: int = 60_000, throttle_s: float = 1.0) -> None:
        self.stale_ms = stale_ms
        self.providers: dict[str, ChannelProvider] = {}
        self.things: dict[str, dict[str, Any]] = {}
        self.aggregates = Aggregates()
        self.lookup = ThingLookup()
        # Things with a live (non-offline-by-staleness) snapshot, in arrival order, so the
        # stale sweep reads only from the oldest end.
        self._fresh: OrderedDict[str, int] = OrderedDict()
        self.hub = ChannelHub(self._full_state, self._diff, throttle_s)
        self._sweeper: asyncio.Task[None] | None = None

    # -- registry -------------------------------------------------------------------------

    def load(self, docs: Iterable[dict[str, Any]]) -> None:
        """Fill the index from the store at start-up."""
        for doc in docs:
            self.put_thing(doc)
        self.sweep()

    def put_thing(self, doc: dict[str, Any]) -> None:
        """Add or replace a thing's registry document, keeping its latest snapshot.

        ``info`` and ``opts`` are kept encoded (:class:`PackedObject`); the strings many
        things share (type, rack, tags) are kept once.
        """
        old = self.things.get(doc["id"])
        for key in ("info", "opts"):
            if key in doc:
                doc[key] = PackedObject.pack(doc[key])
        for key in ("type", "rack"):
            if doc.get(key).__class__ is str:
                doc[key] = sys.intern(doc[key])
        tags = doc.get("tags")
        if tags.__class__ is list:
            doc["tags"] = [_shared(t) for t in tags]
        if "last" not in doc:
            doc["last"] = old.get("last") if old else None
        elif doc["last"] is not None and doc["last"].get("ts") is not None:
            doc["last"] = Latest.from_mapping(doc["last"])
        else:
            doc["last"] = None
        self.things[doc["id"]] = doc
        last = doc["last"]
        if last is not None and not last.stale:
            self._fresh[doc["id"]] = last.ts
            self._fresh.move_to_end(doc["id"])
        if old is doc:
            self.lookup.retag(doc)  # changed in place: what its tags were is gone
        self._changed(doc, old)

    def remove_thing(self, thing_id: str) -> None:
        """Drop a thing that was forgotten."""
        doc = self.things.pop(thing_id, None)
        if doc is None:
            return
        self._fresh.pop(thing_id, None)
        self.aggregates.remove(thing_id)
        self.lookup.remove(doc)
        self.hub.mark(FLEET, thing_id)
        self.hub.mark(AGGREGATES, "all")
        self.hub.mark(THING_PREFIX + thing_id, "removed")

    # -- snapshots ------------------------------------------------------------------------

    def apply(self, rows: Iterable[dict[str, Any]]) -> int:
        """Take committed snapshot rows; returns how many applied.

        A row has thing_id, ts, err, the snapshot's JSON in ``snap`` and/or the decoded
        snapshot in ``doc`` (``None`` in both: the poll failed).

        A row older than what the index holds is ignored, so replays are harmless.
        """
        applied = 0
        for row in rows:
            doc = self.things.get(row["thing_id"])
            if doc is None:
                continue
            prev = doc.get("last")
            ts = int(row["ts"])
            if prev is not None and prev.ts > ts:
                continue
            doc["last"] = Latest.from_row(row, prev)
            self._fresh[row["thing_id"]] = ts
            self._fresh.move_to_end(row["thing_id"])
            self._changed(doc)
            applied += 1
        return applied

    def sweep(self, now: int | None = None) -> int:
        """Turn offline every thing whose latest snapshot is older than the stale window."""
        limit = (now_ms() if now is None else now) - self.stale_ms
        turned = 0
        while self._fresh:
            thing_id, ts = next(iter(self._fresh.items()))
            if ts >= limit:
                # Arrival order is close to time order: an older one behind a fresher one
                # is at most one agent's clock skew late.
                break
            self._fresh.popitem(last=False)
            doc = self.things.get(thing_id)
            last = None if doc is None else doc.get("last")
            if doc is None or last is None or last.hot.status == STATUS_OFFLINE:
                continue
            doc["last"] = last.offline()
            self._changed(doc)
            turned += 1
        return turned

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.sweep()
            except Exception:
                log.exception("stale sweep failed; retrying in 1 s")

    def start(self) -> None:
        """Start the stale sweep and the channel flusher."""
        self.hub.start()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="live-sweep")

    async def stop(self) -> None:
        """Stop background tasks."""
        await self.hub.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    # -- channels -------------------------------------------------------------------------

    def provide(self, channel: str, provider: ChannelProvider) -> None:
        """Serve ``channel`` from ``provider``; it marks changes with ``hub.mark``."""
        self.providers[channel] = provider
        LiveIndex.provided.add(channel)

    def candidates(self, query: Any, want: int | None = None) -> Iterable[dict[str, Any]]:
        """Things that may match ``query``, in index order: all of them, or fewer when an
        index on status or tags applies; the caller applies the query to each.

        ``want``: how many matches the caller needs (it stops there). A scan in index order
        that finds them early beats putting a large indexed set in order first.
        """
        found = self.lookup.narrow(query)
        if found is None:
            return self.things.values()
        things = self.things
        if found.presorted:
            # One tag's things, kept in index order: read until the caller has enough.
            return (things[i] for i in found.in_order())
        if want is not None and len(found) < len(things):
            # Matches are ~len/N of the things: a scan reads want * N / len of them; the
            # index sorts its len ids (~a third of a match test each) and tests them.
            n = len(found)
            scan = len(things) if want >= n else want * len(things) / n
            if n / 3 + min(want, n) >= scan:
                return things.values()
        return [things[i] for i in found.in_order()]

    def sorted_things(self, sort: Any, query: Any = None) -> Iterator[dict[str, Any]] | None:
        """All things in the order of ``sort`` when it is one key with a sorted view
        (``{"last.snap.stats.hashrate": -1}``), else ``None`` (the caller sorts).

        Also ``None`` when an index narrows ``query`` to a few things: sorting those few
        beats reading the view until enough of them turn up.
        """
        if not isinstance(sort, dict) or len(sort) != 1:
            return None
        few = self.lookup.narrow(query)
        if few is not None and len(few) * _FEW_RATIO < len(self.things):
            return None
        ((path, direction),) = sort.items()
        if direction not in (1, -1):
            return None
        ids = self.lookup.ordered(path, direction == -1, self.things)
        if ids is None:
            return None
        things = self.things
        return (things[i] for i in ids)

    def _changed(self, doc: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """``doc`` changed; ``old`` is the registry document it replaced (put_thing), else
        ``doc`` itself (a snapshot or the sweep changed only its ``last``)."""
        thing_id = doc["id"]
        self.lookup.update(doc, doc if old is None and thing_id in self.lookup.pos else old)
        if self.aggregates.apply(thing_id, str(doc.get("type")), hot_of(doc.get("last"))):
            self.hub.mark(AGGREGATES, "all")
        self.hub.mark(FLEET, thing_id)
        self.hub.mark(THING_PREFIX + thing_id, "doc")

    def _full_state(self, channel: str) -> Any:
        if channel in self.providers:
            return self.providers[channel].full_state()
        if channel == FLEET:
            return {"rows": [summary_row(d) for d in self.things.values()]}
        if channel == AGGREGATES:
            return self.aggregates.to_dict()
        if channel.startswith(THING_PREFIX):
            return self.things.get(channel[len(THING_PREFIX) :])
        return None

    def _diff(self, channel: str, keys: set[str]) -> Any:
        if channel in self.providers:
            return self.providers[channel].diff(keys)
        if channel == FLEET:
            upsert = [summary_row(self.things[k]) for k in keys if k in self.things]
            removed = [k for k in keys if k not in self.things]
            return {"upsert": upsert, "remove": removed}
        # Aggregates and single things are small: the diff is the new whole.
        return self._full_state(channel)

    @staticmethod
    def valid_channel(channel: str) -> bool:
        """Whether ``channel`` names a channel this index publishes."""
        return (
            channel in (FLEET, AGGREGATES)
            or channel in LiveIndex.provided
            or (channel.startswith(THING_PREFIX) and len(channel) > len(THING_PREFIX))
        )
