"""Fleet aggregates kept incrementally: each update subtracts the thing's old contribution
and adds its new one, so no update ever rescans the fleet.

Hashrates are summed as integer H/s, so adding and subtracting never drifts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from hashfleet.core.units import split_hashrate
from hashfleet.model.snapshot import STATUS_ONLINE, STATUSES
from hashfleet.server.live.latest import Hot


class Contribution(msgspec.Struct, frozen=True):
    """What one thing adds to the aggregates: one ``(coin, algorithm, H/s)`` per stream."""

    status: str
    streams: tuple[tuple[str, str, int], ...]
    power_w: float


_EMPTY = Contribution("offline", (), 0.0)


def _hs(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and value == value else 0


def contribution_of(hot: Hot) -> Contribution:
    """The contribution of a thing whose latest snapshot's hot values are ``hot``; only
    online things add hashrate and power.

    A rig running several programs reports a stream each (different algorithms are never
    summed); any other thing is one stream of its top-level hashrate.
    """
    if hot.status != STATUS_ONLINE:
        return Contribution(hot.status, (), 0.0)
    rows = hot.streams or ((hot.coin or "unknown", hot.algorithm or "unknown", hot.hashrate),)
    streams = tuple((coin, algorithm, _hs(hashrate)) for coin, algorithm, hashrate in rows)
    return Contribution(hot.status, streams, hot.power_w or 0.0)


class Aggregates:
    """Totals over the fleet: hashrate by coin and algorithm, power, counts by status."""

    def __init__(self) -> None:
        # Each thing's hot values, whose contribution is in the totals: the live index holds
        # them anyway, a Contribution a thing would be ~0.2 KB more at 100,000 things.
        self._by_thing: dict[str, Hot] = {}
        self.hashrate_by_coin: Counter[str] = Counter()
        self.hashrate_by_algorithm: Counter[str] = Counter()
        self.total_power_w = 0.0
        self.status_counts: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self._types: dict[str, str] = {}

    def apply(self, thing_id: str, thing_type: str, hot: Hot) -> bool:
        """Replace ``thing_id``'s contribution with that of ``hot`` (its latest snapshot's
        hot values); returns whether anything changed."""
        before = self._by_thing.get(thing_id)
        if before is hot:
            return False
        new = contribution_of(hot)
        if before is None:
            old = _EMPTY
            self._types[thing_id] = thing_type
            self.by_type[thing_type] += 1
        else:
            old = contribution_of(before)
            self._by_thing[thing_id] = hot
            if old == new:
                return False
            self.status_counts[old.status] -= 1
        self._add(old, -1)
        self._add(new, 1)
        self.status_counts[new.status] += 1
        self._by_thing[thing_id] = hot
        return True

    def remove(self, thing_id: str) -> None:
        """Forget a thing entirely."""
        before = self._by_thing.pop(thing_id, None)
        if before is None:
            return
        old = contribution_of(before)
        self._add(old, -1)
        self.status_counts[old.status] -= 1
        self.by_type[self._types.pop(thing_id)] -= 1

    def _add(self, c: Contribution, sign: int) -> None:
        for coin, algorithm, hashrate in c.streams:
            self.hashrate_by_coin[coin] += sign * hashrate
            self.hashrate_by_algorithm[algorithm] += sign * hashrate
        self.total_power_w += sign * c.power_w

    def to_dict(self) -> dict[str, Any]:
        """The aggregates as the API and the dashboard show them."""
        total = len(self._by_thing)
        alive = self.status_counts[STATUS_ONLINE]
        return {
            "coin_hashrate_map": {
                coin: list(split_hashrate(hs)) for coin, hs in self.hashrate_by_coin.items() if hs
            },
            "hashrate_by_coin": {c: hs for c, hs in self.hashrate_by_coin.items() if hs},
            "hashrate_by_algorithm": {a: hs for a, hs in self.hashrate_by_algorithm.items() if hs},
            "total_power_w": round(self.total_power_w, 1),
            "alive": f"{alive}/{total}",
            "alive_count": alive,
            "total_count": total,
            "status_counts": {s: self.status_counts[s] for s in STATUSES},
            "type_counts": {t: n for t, n in self.by_type.items() if n},
        }
