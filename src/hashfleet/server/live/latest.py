"""A thing's latest snapshot as the live index holds it: packed JSON plus the hot values.

A decoded snapshot is ~5 KB of Python objects; the same snapshot as JSON is ~0.9 KB, and
~0.15 to 0.3 KB packed with zstd and a dictionary trained on every family's snapshots
(``snapshot.zdict``, built by ``make snapshot-dict``; 3 to 4 µs to pack, ~1.5 µs to unpack).
The index keeps it packed and unpacks, once at apply time, only the values read on every
listThings query, fleet row, aggregate and metrics scrape (:class:`Hot`). Everything else
(hashboards, fans, pools…) is decoded on demand, when one thing's document is read.

:class:`Latest` is a read-only mapping with the shape the API has always shown —
``{"ts", "err", "snap", ["stale"]}`` — so code that reads ``doc["last"]["snap"]`` keeps
working; dotted paths (``last.snap.stats.status``) resolve through :meth:`Latest.lookup`,
which answers hot paths without decoding.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import zstandard

from hashfleet.model.snapshot import (
    STATUS_ERROR,
    STATUS_OFFLINE,
    Snapshot,
    SnapshotView,
)
from hashfleet.server.query.paths import MISSING, Resolvable, getter
from hashfleet.wire.codec import json_dumps, json_loads

_snapshot_decoder = msgspec.json.Decoder(Snapshot)

# The dictionary latest snapshots are packed with (``bench/snapshot_dict.py`` makes it).
# Only this process reads what it packs, so any dictionary works; without the file they
# are packed without one (~2.5x larger).
ZDICT_PATH = Path(__file__).with_name("snapshot.zdict")
_ZDICT = zstandard.ZstdCompressionDict(ZDICT_PATH.read_bytes()) if ZDICT_PATH.is_file() else None
_codecs = threading.local()


def _codec() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstandard's (de)compressors are not for concurrent use: one pair a thread.
    pair: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = getattr(
        _codecs, "pair", None
    )
    if pair is None:
        pair = _codecs.pair = (
            zstandard.ZstdCompressor(level=3, dict_data=_ZDICT, write_dict_id=False),
            zstandard.ZstdDecompressor(dict_data=_ZDICT),
        )
    return pair


def pack_json(data: bytes | msgspec.Raw) -> bytes:
    """JSON packed as the live index keeps it."""
    out = _codec()[0].compress(data)
    # zstandard returns a bytes object still the size of the worst case (~the input's):
    # kept as it is, a packed snapshot would take as much memory as its JSON.
    return memoryview(out).tobytes()


def unpack_json(packed: bytes) -> bytes:
    """The JSON :func:`pack_json` packed."""
    return _codec()[1].decompress(packed)


# Poll errors that mean "cannot reach it" rather than "it answered wrong".
_OFFLINE_ERRORS = frozenset({"ERR_DEVICE_OFFLINE"})


def status_for_error(err: str) -> str:
    """Status a thing takes when its poll failed with ``err``."""
    return STATUS_OFFLINE if err in _OFFLINE_ERRORS else STATUS_ERROR


class Hot(msgspec.Struct, frozen=True, gc=False):
    """The values of a snapshot read on hot paths, unpacked.

    ``temp_chip`` is the hottest chip over the hashboards (else ``temp_max``), ``pool`` the
    active pool's URL (else the first pool's), ``streams`` a rig's (coin, algorithm,
    hashrate) per mining program (empty for a single-stream thing).
    """

    status: str = STATUS_OFFLINE
    hashrate: float | None = None
    hashrate_nominal: float | None = None
    algorithm: str | None = None
    coin: str | None = None
    power_w: float | None = None
    temp_max: float | None = None
    temp_chip: float | None = None
    uptime_s: int | None = None
    work_mode: str | None = None
    model: str | None = None
    pool: str | None = None
    streams: tuple[tuple[str, str, float | None], ...] = ()


_EMPTY_HOT = Hot()


def _one(value: Any) -> Any:
    # The same few texts (status, algorithm, coin, mode, model, pool) on every thing: one
    # copy each instead of one a thing (~0.4 KB a thing at 100,000 things).
    return sys.intern(value) if value.__class__ is str else value


def _hot(
    status: str,
    hashrate: float | None,
    hashrate_nominal: float | None,
    algorithm: str | None,
    coin: str | None,
    power_w: float | None,
    temp_max: float | None,
    temp_chip: float | None,
    uptime_s: int | None,
    work_mode: str | None,
    model: str | None,
    pool: str | None,
    streams: tuple[tuple[str, str, float | None], ...],
) -> Hot:
    """A :class:`Hot` holding the shared copy of each of its texts."""
    if streams:
        streams = tuple((_one(c), _one(a), h) for c, a, h in streams)
    return Hot(
        _one(status),
        hashrate,
        hashrate_nominal,
        _one(algorithm),
        _one(coin),
        power_w,
        temp_max,
        temp_chip,
        uptime_s,
        _one(work_mode),
        _one(model),
        _one(pool),
        streams,
    )


# A snapshot of JSON null in every form it comes in (compared without copying a raw one).
_NULLS = (b"null", "null", msgspec.Raw(b"null"))

# Paths below ``last`` answered from Hot without decoding (same names as in the snapshot).
_HOT_PATHS: dict[tuple[str, ...], str] = {
    ("snap", "stats", name): name
    for name in (
        "status",
        "hashrate",
        "hashrate_nominal",
        "algorithm",
        "coin",
        "power_w",
        "temp_max",
        "uptime_s",
        "work_mode",
    )
}
_HOT_PATHS["snap", "config", "model"] = "model"


def _num(value: Any) -> float | None:
    # type() rather than isinstance: a bool is an int to isinstance, and is no reading.
    cls = value.__class__
    if cls is float:
        return value if math.isfinite(value) else None
    if cls is int:
        return float(value)
    return None


def _str(value: Any) -> str | None:
    return value if value.__class__ is str else None


def hot_from_snap(snap: Mapping[str, Any] | None) -> Hot:
    """The hot values of a decoded snapshot (``None``: nothing known, offline).

    On every stored snapshot: written for speed (no generators, one pass per list).
    """
    if not snap:
        return _EMPTY_HOT
    stats = snap.get("stats") or {}
    config = snap.get("config") or {}
    pool = None
    pools = stats.get("pools")
    if pools:
        first = None
        for p in pools:
            if isinstance(p, Mapping):
                if first is None:
                    first = p
                if p.get("active"):
                    pool = _str(p.get("url"))
                    break
        else:
            pool = _str(first.get("url")) if first is not None else None
    temp_max = _num(stats.get("temp_max"))
    temp_chip = None
    boards = stats.get("hashboards")
    if boards:
        for b in boards:
            if isinstance(b, Mapping):
                t = _num(b.get("temp_chip"))
                if t is not None and (temp_chip is None or t > temp_chip):
                    temp_chip = t
    streams: tuple[tuple[str, str, float | None], ...] = ()
    if stats.get("streams"):
        streams = tuple(
            (str(s.get("coin") or "unknown"), str(s.get("algorithm") or "unknown"),
             _num(s.get("hashrate")))
            for s in stats["streams"]
            if isinstance(s, Mapping)
        )  # fmt: skip
    uptime = stats.get("uptime_s")
    return _hot(
        str(stats.get("status") or STATUS_OFFLINE),
        _num(stats.get("hashrate")),
        _num(stats.get("hashrate_nominal")),
        _str(stats.get("algorithm")),
        _str(stats.get("coin")),
        _num(stats.get("power_w")),
        temp_max,
        temp_max if temp_chip is None else temp_chip,
        uptime if uptime.__class__ is int else None,
        _str(stats.get("work_mode")),
        _str(config.get("model")),
        pool,
        streams,
    )


def hot_from_view(view: SnapshotView | Snapshot) -> Hot:
    """The hot values of a snapshot decoded as a :class:`SnapshotView` (or a whole
    :class:`Snapshot`): the same as :func:`hot_from_snap` of its ``to_dict()``, without the
    dicts. Decoded from JSON through the model, its numbers are finite floats or None
    (which ``_num`` keeps as they are) and its strings strings."""
    stats = view.stats
    pool = None
    pools = stats.pools
    if pools:
        for p in pools:
            if p.active:
                pool = p.url
                break
        else:
            pool = pools[0].url
    temp_max = stats.temp_max
    temp_chip = None
    for b in stats.hashboards:
        t = b.temp_chip
        if t is not None and (temp_chip is None or t > temp_chip):
            temp_chip = t
    streams: tuple[tuple[str, str, float | None], ...] = ()
    if stats.streams:
        streams = tuple(
            (s.coin or "unknown", s.algorithm or "unknown", s.hashrate) for s in stats.streams
        )
    return _hot(
        stats.status or STATUS_OFFLINE,
        stats.hashrate,
        stats.hashrate_nominal,
        stats.algorithm,
        stats.coin,
        stats.power_w,
        temp_max,
        temp_max if temp_chip is None else temp_chip,
        stats.uptime_s,
        stats.work_mode,
        view.config.model,
        pool,
        streams,
    )


class Latest(Mapping[str, Any], Resolvable):
    """A thing's latest snapshot (or failed poll): packed JSON, hot values, read-only."""

    __slots__ = ("err", "hot", "packed", "stale", "ts")

    def __init__(
        self, ts: int, err: str | None, packed: bytes, hot: Hot, *, stale: bool = False
    ) -> None:
        """``packed``: the snapshot's JSON as :func:`pack_json` packs it."""
        self.ts = ts
        self.err = err
        self.packed = packed
        self.hot = hot
        self.stale = stale

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prev: Latest | None = None) -> Latest:
        """From a committed snapshot row: ts, err, the raw ``snap`` and/or decoded ``doc``."""
        err = row.get("err")
        raw = row.get("snap")
        if raw in _NULLS:
            raw = None  # a failed poll's state, read from the store as JSON text
        if raw is not None and row.get("view") is not None and "doc" not in row:
            # On ingest: the snapshot's JSON is kept as it came, its hot values come from
            # the row's view (decoded once, by ingest).
            return cls(int(row["ts"]), err, pack_json(_json(raw)), hot_from_view(row["view"]))
        doc = row.get("doc")
        if doc is None and raw is None:
            # The poll failed: keep the identity we knew, report the status the error implies.
            config = (prev.snap.get("config") if prev is not None else None) or {}
            doc = {"stats": {"status": status_for_error(err or "ERR_DEVICE")}, "config": config}
            return cls(int(row["ts"]), err, pack_json(json_dumps(doc)), hot_from_snap(doc))
        data = _json(raw if raw is not None else doc)
        if doc is None:
            doc = _decode(data)
        return cls(int(row["ts"]), err, pack_json(data), hot_from_snap(doc))

    @classmethod
    def from_mapping(cls, last: Mapping[str, Any]) -> Latest:
        """From the plain ``{"ts", "err", "snap"}`` shape (the store's, or an old copy)."""
        if isinstance(last, Latest):
            return last
        latest = cls.from_row({"ts": last["ts"], "err": last.get("err"), "snap": last.get("snap")})
        return latest.offline() if last.get("stale") else latest

    def offline(self) -> Latest:
        """This snapshot turned offline by the stale sweep (no snapshot in the window)."""
        hot = msgspec.structs.replace(self.hot, status=STATUS_OFFLINE)
        return Latest(self.ts, self.err, self.packed, hot, stale=True)

    # -- reading --------------------------------------------------------------------------

    @property
    def json(self) -> bytes:
        """The snapshot's JSON as it was stored (without the stale sweep's status)."""
        return unpack_json(self.packed)

    @property
    def snap(self) -> dict[str, Any]:
        """The snapshot, decoded now (a fresh dict each time: callers may change it)."""
        snap = _decode(self.json)
        if self.stale:
            stats = snap.get("stats")
            if isinstance(stats, dict):
                stats["status"] = STATUS_OFFLINE
        return snap

    def to_dict(self) -> dict[str, Any]:
        """The plain document (as the API shows it)."""
        out = {"ts": self.ts, "err": self.err, "snap": self.snap}
        if self.stale:
            out["stale"] = True
        return out

    def lookup(self, parts: Sequence[str]) -> Any:
        """The value at ``parts`` below this node, hot paths without decoding."""
        # The decoded snapshot has every field of the model (None when not reported), so a
        # hot value of None is the field's None, not a missing field.
        name = _HOT_PATHS.get(parts if isinstance(parts, tuple) else tuple(parts))
        if name is not None:
            return getattr(self.hot, name)
        if not parts:
            return self
        head = parts[0]
        if head in ("ts", "err", "stale"):
            return self.get(head, MISSING) if len(parts) == 1 else MISSING
        if head != "snap":
            return MISSING
        snap = self.snap
        return snap if len(parts) == 1 else getter(".".join(parts[1:]))(snap)

    def __getitem__(self, key: str) -> Any:
        if key == "ts":
            return self.ts
        if key == "err":
            return self.err
        if key == "snap":
            return self.snap
        if key == "stale" and self.stale:
            return True
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from ("ts", "err", "snap")
        if self.stale:
            yield "stale"

    def __len__(self) -> int:
        return 4 if self.stale else 3

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Latest):
            return (self.ts, self.err, self.stale, self.packed) == (
                other.ts,
                other.err,
                other.stale,
                other.packed,
            )
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Latest(ts={self.ts}, err={self.err!r}, status={self.hot.status!r})"


def hot_of(last: Mapping[str, Any] | None) -> Hot:
    """The hot values of a ``last`` (a :class:`Latest`, or a plain dict in tests)."""
    if isinstance(last, Latest):
        return last.hot
    if not last:
        return _EMPTY_HOT
    return hot_from_snap(last.get("snap"))


def _json(snap: Any) -> bytes | msgspec.Raw:
    if isinstance(snap, (bytes, msgspec.Raw)):
        return snap
    if isinstance(snap, str):
        return snap.encode()
    return json_dumps(snap)


def _decode(raw: bytes) -> dict[str, Any]:
    # Through the model, so every field is there (None when the device says nothing) as
    # the API has always shown it; a snapshot stored by an older version that the model no
    # longer takes is still shown as it was stored.
    try:
        return _snapshot_decoder.decode(raw).to_dict()
    except msgspec.ValidationError:
        doc = json_loads(raw)
        return doc if isinstance(doc, dict) else {}
