"""How a thing's status and its one-line summary are derived from its latest snapshot."""

from __future__ import annotations

from typing import Any

from hashfleet.model.snapshot import STATUS_ERROR, STATUS_OFFLINE

# Poll errors that mean "cannot reach it" rather than "it answered wrong".
_OFFLINE_ERRORS = frozenset({"ERR_DEVICE_OFFLINE"})


def status_of(last: dict[str, Any] | None) -> str:
    """The status recorded in ``last.snap.stats.status``, offline when there is none."""
    if not last:
        return STATUS_OFFLINE
    snap = last.get("snap") or {}
    stats = snap.get("stats") or {}
    return str(stats.get("status") or STATUS_OFFLINE)


def status_for_error(err: str) -> str:
    """Status a thing takes when its poll failed with ``err``."""
    return STATUS_OFFLINE if err in _OFFLINE_ERRORS else STATUS_ERROR


def summary_row(doc: dict[str, Any]) -> dict[str, Any]:
    """The fleet table's row for one thing: small, flat, ready to render."""
    last = doc.get("last") or {}
    snap = last.get("snap") or {}
    stats = snap.get("stats") or {}
    config = snap.get("config") or {}
    pools = stats.get("pools") or []
    active = next((p for p in pools if p.get("active")), pools[0] if pools else None)
    return {
        "id": doc["id"],
        "code": doc.get("code"),
        "type": doc.get("type"),
        "rack": doc.get("rack"),
        "address": (doc.get("opts") or {}).get("address"),
        # The driver family: which actions the dashboard may offer for this thing.
        "family": (doc.get("opts") or {}).get("family"),
        "status": stats.get("status") or STATUS_OFFLINE,
        "err": last.get("err"),
        "model": config.get("model") or (doc.get("info") or {}).get("model"),
        "hashrate": stats.get("hashrate"),
        "algorithm": stats.get("algorithm"),
        "coin": stats.get("coin"),
        "temp": stats.get("temp_max"),
        "power": stats.get("power_w"),
        "pool": active.get("url") if active else None,
        "ts": last.get("ts"),
    }
