"""Secondary indexes of the live index: things by status and by tag, for listThings.

A query whose top level names a status (``{"last.snap.stats.status": "offline"}``) or a
tag (``{"tags": "row-3"}``, ``{"tags": {"$in": [...]}}``) only needs to look at the things
carrying it. :meth:`ThingLookup.narrow` gives those candidates in index order — a superset
of the matches, never a subset: the caller still applies the whole query to each.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

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
    """Things by status and by tag, and each thing's position in index order."""

    def __init__(self) -> None:
        self.pos: dict[str, int] = {}
        self._next = 0
        self.by_status: dict[str, Members] = {}
        # Many tags belong to one thing only (the registry's id-… and code-… tags): such a
        # tag maps to the id itself, not to a set of one (216 bytes each, 2 a thing).
        self.by_tag: dict[str, Members] = {}
        self._status: dict[str, str] = {}
        self._views: dict[str, SortedView] = {}

    def update(self, doc: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """Index ``doc`` as it is now; ``old`` is the document it replaces, if any (the same
        object when only its latest snapshot changed: then the tags did not)."""
        thing_id = doc["id"]
        if thing_id not in self.pos:
            self.pos[thing_id] = self._next
            self._next += 1
        status = hot_of(doc.get("last")).status
        old_status = self._status.get(thing_id)
        if old_status != status:
            if old_status is not None:
                _drop(self.by_status, old_status, thing_id)
            _add(self.by_status, status, thing_id)
            self._status[thing_id] = status
        if old is not doc:
            # Tags are not kept here a second time: the old document has them.
            tags = _tags_of(doc.get("tags"))
            old_tags = _tags_of(old.get("tags")) if old is not None else ()
            if tags != old_tags:
                for tag in old_tags:
                    if tag not in tags:
                        _drop(self.by_tag, tag, thing_id)
                for tag in tags:
                    _add(self.by_tag, tag, thing_id)
        for view in self._views.values():
            view.dirty.add(thing_id)

    def retag(self, doc: dict[str, Any]) -> None:
        """Re-index the tags of a document changed in place (its old tags are unknown)."""
        thing_id = doc["id"]
        tags = _tags_of(doc.get("tags"))
        for tag in [t for t, ids in self.by_tag.items() if _has(ids, thing_id) and t not in tags]:
            _drop(self.by_tag, tag, thing_id)
        for tag in tags:
            _add(self.by_tag, tag, thing_id)

    def remove(self, doc: dict[str, Any]) -> None:
        """Forget a thing (``doc``: its last document)."""
        thing_id = doc["id"]
        self.pos.pop(thing_id, None)
        status = self._status.pop(thing_id, None)
        if status is not None:
            _drop(self.by_status, status, thing_id)
        for tag in _tags_of(doc.get("tags")):
            _drop(self.by_tag, tag, thing_id)
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

    def narrow(self, query: Any) -> set[str] | None:
        """Ids that may match ``query`` (do not change the set); ``None`` when no index
        applies."""
        if not isinstance(query, dict):
            return None
        best: set[str] | None = None
        for path, cond in query.items():
            if path == STATUS_PATH:
                found = _members(self.by_status, cond)
            elif path == TAGS_PATH:
                found = _members(self.by_tag, cond)
            else:
                continue
            if found is not None and (best is None or len(found) < len(best)):
                best = found
        return best

    def in_order(self, ids: set[str]) -> list[str]:
        """``ids`` in index order."""
        return sorted(ids, key=self.pos.__getitem__)


def _tags_of(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, str):
        return (tags,)
    if isinstance(tags, list):
        return tuple(sorted({t for t in tags if isinstance(t, str)}))
    return ()


Members = str | set[str]  # one id, or the ids of several things


def _add(index: dict[str, Members], key: str, thing_id: str) -> None:
    members = index.get(key)
    if members is None:
        index[key] = thing_id
    elif isinstance(members, set):
        members.add(thing_id)
    elif members != thing_id:
        index[key] = {members, thing_id}


def _drop(index: dict[str, Members], key: str, thing_id: str) -> None:
    members = index.get(key)
    if isinstance(members, set):
        members.discard(thing_id)
        if len(members) == 1:
            index[key] = next(iter(members))
    elif members == thing_id:
        del index[key]


def _has(members: Members, thing_id: str) -> bool:
    return thing_id in members if isinstance(members, set) else members == thing_id


def _members(index: dict[str, Members], cond: Any) -> set[str] | None:
    """Ids under a string equality or a ``$in`` of strings; None for any other condition."""
    if isinstance(cond, str):
        return _as_set(index.get(cond))
    if isinstance(cond, dict) and len(cond) == 1 and "$in" in cond:
        values = cond["$in"]
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            out: set[str] = set()
            for v in values:
                out |= _as_set(index.get(v))
            return out
    return None


def _as_set(members: Members | None) -> set[str]:
    if members is None:
        return set()
    return members if isinstance(members, set) else {members}


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
