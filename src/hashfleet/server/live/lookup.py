"""Secondary indexes of the live index: things by status and by tag, for listThings.

A query whose top level names a status (``{"last.snap.stats.status": "offline"}``) or a
tag (``{"tags": "row-3"}``, ``{"tags": {"$in": [...]}}``) only needs to look at the things
carrying it. :meth:`ThingLookup.narrow` gives those candidates in index order — a superset
of the matches, never a subset: the caller still applies the whole query to each.
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from sortedcontainers import SortedList

from hashfleet.server.live.latest import hot_of
from hashfleet.server.query.paths import getter
from hashfleet.server.query.sort import sort_key

STATUS_PATH = "last.snap.stats.status"
TAGS_PATH = "tags"
# Sorts kept as sorted views: the hot numbers a fleet table is ordered by.
SORTED_PATHS = frozenset(
    f"last.snap.stats.{name}"
    for name in ("hashrate", "hashrate_nominal", "power_w", "temp_max", "uptime_s")
)


class ThingLookup:
    """Things by status and by tag, and each thing's position in index order.

    A tag several things carry keeps their positions, ascending, in an ``array`` (4 bytes
    a thing instead of a set's ~50: at 100,000 things with 6 shared tags each, ~45 MB).
    A forgotten thing's positions stay in those arrays, mapping to no id, until more
    things are forgotten than are left (then they are compacted), so forgetting many
    things is not a search-and-shift per tag per thing.
    """

    def __init__(self) -> None:
        self.pos: dict[str, int] = {}
        # The id at each position; None once forgotten (a position is never reused).
        self._ids: list[str | None] = []
        self._dead = 0
        self.by_status: dict[str, set[str]] = {}
        # A tag of one thing (the registry's id-… and code-… tags) maps to the id itself,
        # not to an array of one.
        self.by_tag: dict[str, TagMembers] = {}
        self._status: dict[str, str] = {}
        self._views: dict[str, SortedView] = {}

    def update(self, doc: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """Index ``doc`` as it is now; ``old`` is the document it replaces, if any (the same
        object when only its latest snapshot changed: then the tags did not)."""
        thing_id = doc["id"]
        if thing_id not in self.pos:
            self.pos[thing_id] = len(self._ids)
            self._ids.append(thing_id)
        status = hot_of(doc.get("last")).status
        old_status = self._status.get(thing_id)
        if old_status != status:
            if old_status is not None:
                self.by_status[old_status].discard(thing_id)
            self.by_status.setdefault(status, set()).add(thing_id)
            self._status[thing_id] = status
        if old is not doc:
            # Tags are not kept here a second time: the old document has them.
            tags = _tags_of(doc.get("tags"))
            old_tags = _tags_of(old.get("tags")) if old is not None else ()
            if tags != old_tags:
                for tag in old_tags:
                    if tag not in tags:
                        self._untag(tag, thing_id)
                for tag in tags:
                    self._tag(tag, thing_id)
        for view in self._views.values():
            view.dirty.add(thing_id)

    def retag(self, doc: dict[str, Any]) -> None:
        """Re-index the tags of a document changed in place (its old tags are unknown)."""
        thing_id = doc["id"]
        tags = _tags_of(doc.get("tags"))
        for tag in [t for t in self.by_tag if t not in tags and self._has(t, thing_id)]:
            self._untag(tag, thing_id)
        for tag in tags:
            self._tag(tag, thing_id)

    def remove(self, doc: dict[str, Any]) -> None:
        """Forget a thing (``doc``: its last document)."""
        thing_id = doc["id"]
        p = self.pos.pop(thing_id, None)
        status = self._status.pop(thing_id, None)
        if status is not None:
            self.by_status[status].discard(thing_id)
        for tag in _tags_of(doc.get("tags")):
            if self.by_tag.get(tag) == thing_id:
                del self.by_tag[tag]
        if p is not None:
            self._ids[p] = None
            self._dead += 1
            if self._dead > len(self.pos):
                self._compact()
        for view in self._views.values():
            view.dirty.add(thing_id)

    def ordered(
        self, path: str, descending: bool, things: dict[str, dict[str, Any]]
    ) -> Iterator[str] | None:
        """Ids of ``things`` in the order of ``sort({path: -1 if descending else 1})`` —
        the same order, ties included, as a stable sort of index order — or ``None`` when
        ``path`` has no sorted view. The view is made on first use and brought up to date
        with the things changed since, so it costs nothing while nobody sorts."""
        if path not in SORTED_PATHS:
            return None
        view = self._views.get(path)
        if view is None:
            view = self._views[path] = SortedView(getter(path))
            view.dirty.update(things)
        view.sync(things, self.pos)
        if view.nans:
            return None  # NaN orders differently under each algorithm: the caller sorts
        return view.ids(descending)

    def narrow(self, query: Any) -> Narrowed | None:
        """Things that may match ``query`` (the smallest index a top-level condition
        names); ``None`` when no index applies."""
        if not isinstance(query, dict):
            return None
        best: Narrowed | None = None
        for path, cond in query.items():
            index: dict[str, Any]
            if path == STATUS_PATH:
                index = self.by_status
            elif path == TAGS_PATH:
                index = self.by_tag
            else:
                continue
            keys = _keys(cond)
            if keys is None:
                continue
            found = Narrowed(self, [g for g in map(index.get, keys) if g])
            if best is None or len(found) < len(best):
                best = found
        return best

    # -- tags -----------------------------------------------------------------------------

    def _tag(self, tag: str, thing_id: str) -> None:
        members = self.by_tag.get(tag)
        if members is None:
            self.by_tag[tag] = thing_id
            return
        p = self.pos[thing_id]
        if isinstance(members, str):
            if members != thing_id:
                self.by_tag[tag] = array("I", sorted((self.pos[members], p)))
            return
        if members[-1] < p:
            members.append(p)  # the usual case: things are tagged in position order
            return
        at = bisect_left(members, p)
        if members[at] != p:
            members.insert(at, p)

    def _untag(self, tag: str, thing_id: str) -> None:
        members = self.by_tag.get(tag)
        if isinstance(members, str):
            if members == thing_id:
                del self.by_tag[tag]
            return
        if members is None:
            return
        p = self.pos[thing_id]
        at = bisect_left(members, p)
        if at < len(members) and members[at] == p:
            del members[at]
            if not members:
                del self.by_tag[tag]

    def _has(self, tag: str, thing_id: str) -> bool:
        members = self.by_tag[tag]
        if isinstance(members, str):
            return members == thing_id
        p = self.pos[thing_id]
        at = bisect_left(members, p)
        return at < len(members) and members[at] == p

    def _compact(self) -> None:
        """Drop forgotten things' positions and number the rest again from 0."""
        old_ids = self._ids
        alive = [i for i in old_ids if i is not None]
        self._ids = list(alive)
        self.pos = pos = {thing_id: n for n, thing_id in enumerate(alive)}
        for tag, members in list(self.by_tag.items()):
            if isinstance(members, str):
                continue
            kept = array("I", (pos[i] for i in map(old_ids.__getitem__, members) if i is not None))
            if kept:
                self.by_tag[tag] = kept
            else:
                del self.by_tag[tag]
        self._dead = 0
        for view in self._views.values():
            view.dirty.update(alive)  # their rows hold the old positions


class Narrowed:
    """What an index gives for a query: groups of things (a status's ids, a tag's
    positions or its one id). Its length counts forgotten things still among a tag's
    positions (an upper bound, to choose between indexes)."""

    __slots__ = ("_len", "groups", "lookup")

    def __init__(self, lookup: ThingLookup, groups: list[Any]) -> None:
        self.lookup = lookup
        self.groups = groups
        self._len = sum(1 if isinstance(g, str) else len(g) for g in groups)

    def __len__(self) -> int:
        return self._len

    @property
    def presorted(self) -> bool:
        """Whether reading the ids in order costs no sort (one tag's positions, or one id)."""
        return len(self.groups) == 1 and not isinstance(self.groups[0], set)

    def in_order(self) -> Iterator[str]:
        """The ids, each once, in index order; read lazily when :attr:`presorted`."""
        lookup = self.lookup
        if len(self.groups) == 1 and isinstance(self.groups[0], array):
            ids = lookup._ids
            return (i for i in map(ids.__getitem__, self.groups[0]) if i is not None)
        return iter(self._sorted())

    def _sorted(self) -> list[str]:
        lookup = self.lookup
        pos = lookup.pos
        positions: set[int] = set()
        for group in self.groups:
            if isinstance(group, str):
                positions.add(pos[group])
            elif isinstance(group, set):
                positions.update(map(pos.__getitem__, group))
            else:
                positions.update(group)
        ids = lookup._ids
        return [i for i in map(ids.__getitem__, sorted(positions)) if i is not None]


def _tags_of(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, str):
        return (tags,)
    if isinstance(tags, list):
        return tuple(sorted({t for t in tags if isinstance(t, str)}))
    return ()


# One thing's id, or the ascending positions of several things.
TagMembers: TypeAlias = "str | array[int]"


def _keys(cond: Any) -> list[str] | None:
    """The values a string equality or a ``$in`` of strings names; None for any other."""
    if isinstance(cond, str):
        return [cond]
    if isinstance(cond, dict) and len(cond) == 1 and "$in" in cond:
        values = cond["$in"]
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            return values
    return None


class SortedView:
    """Things ordered by one path's sort key, then by index position (ties stay stable)."""

    def __init__(self, get: Callable[[Any], Any]) -> None:
        self.get = get
        self.rows: SortedList = SortedList()  # (rank, value, pos, id)
        self.row_of: dict[str, tuple[int, Any, int, str]] = {}
        self.dirty: set[str] = set()
        self.nans: set[str] = set()

    def sync(self, things: dict[str, dict[str, Any]], pos: dict[str, int]) -> None:
        """Re-place the things changed since the last sync."""
        if len(self.dirty) > len(self.rows) // 2:
            # Most of it changed: rebuilding is cheaper than moving rows one by one.
            self.nans.clear()
            self.row_of = {i: self._row(d, pos[i]) for i, d in things.items()}
            self.rows = SortedList(self.row_of.values())
            self.dirty.clear()
            return
        for thing_id in self.dirty:
            old = self.row_of.pop(thing_id, None)
            if old is not None:
                self.rows.remove(old)
            self.nans.discard(thing_id)
            doc = things.get(thing_id)
            if doc is not None:
                row = self.row_of[thing_id] = self._row(doc, pos[thing_id])
                self.rows.add(row)
        self.dirty.clear()

    def _row(self, doc: dict[str, Any], pos: int) -> tuple[int, Any, int, str]:
        rank, value = sort_key(self.get(doc))
        if value != value:
            # Kept out of order's way (a placeholder key), and the view reports itself unusable.
            self.nans.add(doc["id"])
            value = 0
        return (rank, value, pos, doc["id"])

    def ids(self, descending: bool) -> Iterator[str]:
        """Ids in ascending key order, or descending with equal keys still in index order."""
        if not descending:
            return (row[3] for row in self.rows)
        runs = itertools.groupby(reversed(self.rows), key=lambda row: (row[0], row[1]))
        return (row[3] for _key, run in runs for row in reversed(list(run)))
