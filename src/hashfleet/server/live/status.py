"""A thing's one-line summary (the fleet table's row), from its document and latest snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from hashfleet.server.live.latest import hot_of
from hashfleet.server.live.packed import PackedObject


class _OptsHead(msgspec.Struct):
    """The two values of a thing's opts a fleet row shows (the rest is skipped unread)."""

    address: Any = None
    family: Any = None


_opts_head = msgspec.json.Decoder(_OptsHead)


def _head(opts: Any) -> Mapping[str, Any] | _OptsHead:
    if isinstance(opts, PackedObject):
        # A fleet row of each of 100,000 things: read two keys, not the whole object.
        return _opts_head.decode(opts.packed_json)
    return opts if isinstance(opts, Mapping) else {}


def summary_row(doc: dict[str, Any]) -> dict[str, Any]:
    """The fleet table's row for one thing: small, flat, ready to render."""
    last = doc.get("last")
    hot = hot_of(last)
    opts = _head(doc.get("opts"))
    address, family = (
        (opts.address, opts.family)
        if isinstance(opts, _OptsHead)
        else (opts.get("address"), opts.get("family"))
    )
    return {
        "id": doc["id"],
        "code": doc.get("code"),
        "type": doc.get("type"),
        "rack": doc.get("rack"),
        "address": address,
        # The driver family: which actions the dashboard may offer for this thing.
        "family": family,
        "status": hot.status,
        "err": last.get("err") if last else None,
        "model": hot.model or (doc.get("info") or {}).get("model"),
        "hashrate": hot.hashrate,
        "algorithm": hot.algorithm,
        "coin": hot.coin,
        "temp": hot.temp_max,
        "power": hot.power_w,
        "pool": hot.pool,
        "ts": last.get("ts") if last else None,
    }
