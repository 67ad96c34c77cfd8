"""Pool stats API documents → the canonical :class:`Snapshot`.

Only the ``pool_account`` section is filled: the pool-side hashrate stays out of
``stats.hashrate`` so fleet totals never count the same hashes twice (once from the miners,
once from the pool). Hashrates are converted to H/s, amounts to floats in ``currency``.
"""

from __future__ import annotations

import math
from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.model.devices import PoolAccountStats
from hashfleet.model.snapshot import MinerConfig, MinerStats, Snapshot

_UNITS = {"h/s": 1.0, "kh/s": 1e3, "mh/s": 1e6, "gh/s": 1e9, "th/s": 1e12, "ph/s": 1e15,
          "eh/s": 1e18}  # fmt: skip
_BAD = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)


def _num(value: Any) -> float | None:
    """A JSON number or a decimal string → float; missing → None; anything else invalid."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    out = float(value) if isinstance(value, (int, float, str)) else None
    if out is None or not math.isfinite(out):
        raise ValueError(f"not a finite number: {value!r}")
    return out


def _obj(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise TypeError(f"{what} is not an object")
    return doc


def _snapshot(section: PoolAccountStats, make: str) -> Snapshot:
    stats = MinerStats(pool_account=section)
    return Snapshot(stats=stats, config=MinerConfig(make=make, model=section.pool))


def parse_ocean(statsnap: Any, user_hashrate: Any, earnpay: Any, account: str) -> Snapshot:
    """OCEAN ``statsnap`` + ``user_hashrate`` (+ ``earnpay``, may be None) → snapshot."""
    try:
        snap = _obj(_obj(statsnap, "statsnap")["result"], "statsnap.result")
        rates = _obj(_obj(user_hashrate, "user_hashrate")["result"], "user_hashrate.result")
        workers = rates.get("workers")
        online = offline = None
        if isinstance(workers, dict):
            speeds = [_num(_obj(w, "worker").get("hashrate_300s")) or 0.0
                      for w in workers.values()]  # fmt: skip
            online = sum(1 for s in speeds if s > 0)
            offline = len(speeds) - online
        elif rates.get("active_worker_count") is not None:
            online = int(_num(rates["active_worker_count"]) or 0)
        day = None
        if earnpay is not None:
            earned = _obj(_obj(earnpay, "earnpay")["result"], "earnpay.result").get("earnings")
            if isinstance(earned, list):
                day = sum(_num(_obj(e, "earning").get("satoshis_net_earned")) or 0.0
                          for e in earned) / 1e8  # fmt: skip
        section = PoolAccountStats(
            pool="ocean", account=str(snap.get("user") or account),
            hashrate=_num(snap.get("hashrate_300s", rates.get("hashrate_300s"))),
            hashrate_24h=_num(rates.get("hashrate_86400")),
            workers_online=online, workers_offline=offline,
            balance=_num(snap.get("unpaid")), earnings_24h=day,
            earnings_total=_num(snap.get("lifetime_earn")), currency="BTC",
        )  # fmt: skip
    except _BAD as exc:
        raise DeviceReplyInvalid(f"unexpected OCEAN reply: {exc!r}") from exc
    return _snapshot(section, "OCEAN")


def parse_braiins(profile: Any, workers: Any, account: str) -> Snapshot:
    """Braiins Pool ``profile`` + ``workers`` (may be None) → snapshot."""
    try:
        prof = _obj(profile, "profile")
        btc = _obj(prof["btc"], "profile.btc")
        unit = _UNITS[str(btc.get("hash_rate_unit", "Gh/s")).lower()]
        rate5, rate24 = _num(btc.get("hash_rate_5m")), _num(btc.get("hash_rate_24h"))
        online = _num(btc.get("ok_workers"))
        low = _num(btc.get("low_workers")) or 0.0
        offline = _num(btc.get("off_workers"))
        if workers is not None:
            listed = _obj(_obj(_obj(workers, "workers")["btc"], "workers.btc")["workers"], "w")
            states = [str(_obj(w, "worker").get("state")) for w in listed.values()]
            online = float(sum(1 for s in states if s in ("ok", "low")))
            offline = float(sum(1 for s in states if s in ("off", "dis")))
            low = 0.0
        section = PoolAccountStats(
            pool="braiins", account=str(prof.get("username") or account),
            hashrate=None if rate5 is None else rate5 * unit,
            hashrate_24h=None if rate24 is None else rate24 * unit,
            workers_online=None if online is None else int(online + low),
            workers_offline=None if offline is None else int(offline),
            balance=_num(btc.get("current_balance")),
            earnings_24h=_num(btc.get("estimated_reward")),
            earnings_total=_num(btc.get("all_time_reward")), currency="BTC",
        )  # fmt: skip
    except _BAD as exc:
        raise DeviceReplyInvalid(f"unexpected Braiins Pool reply: {exc!r}") from exc
    return _snapshot(section, "Braiins Pool")
