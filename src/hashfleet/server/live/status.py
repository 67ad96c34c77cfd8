"""A thing's one-line summary (the fleet table's row), from its document and latest snapshot."""

from __future__ import annotations

from typing import Any

from hashfleet.server.live.latest import hot_of


def summary_row(doc: dict[str, Any]) -> dict[str, Any]:
    """The fleet table's row for one thing: small, flat, ready to render."""
    last = doc.get("last")
    hot = hot_of(last)
    opts = doc.get("opts") or {}
    return {
        "id": doc["id"],
        "code": doc.get("code"),
        "type": doc.get("type"),
        "rack": doc.get("rack"),
        "address": opts.get("address"),
        # The driver family: which actions the dashboard may offer for this thing.
        "family": opts.get("family"),
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
