"""Chia RPC replies → the canonical :class:`Snapshot` (the ``chia`` section only).

What chia-tea's watchdog watches, read from the RPC instead of the log: sync state, peak
height, netspace (full node); harvesters, plots and their total size, signage points and
proofs (farmer); plots loaded and lost (harvester). Missed challenges: chia-tea counts
signage points no harvester answered in time; over RPC the farmer shows the signage points
it received, so a gap in a challenge's ``signage_point_index`` run is one the farm missed.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.model.devices import ChiaStats
from hashfleet.model.snapshot import STATUS_ONLINE, MinerConfig, MinerStats, Snapshot

ERR_CHIA_NOT_SYNCED = "ERR_CHIA_NOT_SYNCED"
ERR_CHIA_NO_HARVESTERS = "ERR_CHIA_NO_HARVESTERS"
ERR_CHIA_PLOTS_MISSING = "ERR_CHIA_PLOTS_MISSING"
_BAD = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)


def _ok(doc: Any, route: str) -> dict[str, Any]:
    """A Chia RPC reply: an object with ``success``; ``success: false`` is a failed command."""
    if not isinstance(doc, dict) or not isinstance(doc.get("success"), bool):
        raise DeviceReplyInvalid(f"{route}: not a Chia RPC reply")
    if not doc["success"]:
        raise DeviceCommandFailed(f"{route}: {doc.get('error')}", command=route)
    return doc


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def missed_signage_points(points: list[Any]) -> int:
    """Gaps in each challenge's run of signage point indices (0..63)."""
    by_challenge: dict[str, list[int]] = {}
    for item in points:
        sp = item["signage_point"]
        index = _int(sp["signage_point_index"])
        by_challenge.setdefault(str(sp["challenge_hash"]), []).append(index)
    missed = 0
    for indices in by_challenge.values():
        seen = sorted(set(indices))
        missed += sum(b - a - 1 for a, b in pairwise(seen))
    return missed


def parse(
    blockchain: Any = None,
    harvesters: Any = None,
    signage_points: Any = None,
    plots: Any = None,
) -> Snapshot:
    """Replies of the roles polled (``None`` for the others) → snapshot."""
    try:
        return _parse(blockchain, harvesters, signage_points, plots)
    except _BAD as exc:
        raise DeviceReplyInvalid(f"unexpected Chia RPC reply: {exc!r}") from exc


def _parse(blockchain: Any, harvesters: Any, signage_points: Any, plots: Any) -> Snapshot:
    chia = ChiaStats()
    errors: list[str] = []
    if blockchain is not None:
        state = _ok(blockchain, "get_blockchain_state")["blockchain_state"]
        sync = state["sync"]
        chia.synced = bool(sync["synced"])
        chia.syncing = bool(sync["sync_mode"])
        peak = state.get("peak")
        chia.height = _int(peak["height"]) if isinstance(peak, dict) else None
        chia.netspace_bytes = _int(state["space"])
        if not chia.synced:
            errors.append(ERR_CHIA_NOT_SYNCED)
    if harvesters is not None:
        listed = _list(_ok(harvesters, "get_harvesters_summary")["harvesters"])
        chia.harvesters = len(listed)
        chia.plots, chia.total_space_bytes = 0, 0
        for h in listed:
            if isinstance(h["plots"], list):
                # Chia before 1.3 (``get_harvesters``): every plot listed, no totals.
                chia.plots += len(h["plots"])
                chia.total_space_bytes += sum(_int(p["file_size"]) for p in h["plots"])
            else:
                chia.plots += _int(h["plots"])
                chia.total_space_bytes += _int(h["total_plot_size"])
        if not listed:
            errors.append(ERR_CHIA_NO_HARVESTERS)
    if signage_points is not None:
        points = _list(_ok(signage_points, "get_signage_points")["signage_points"])
        chia.signage_points = len(points)
        chia.proofs_found = sum(len(_list(p["proofs"])) for p in points)
        chia.missed_challenges = missed_signage_points(points)
    if plots is not None:
        doc = _ok(plots, "get_plots")
        loaded = _list(doc["plots"])
        lost = len(_list(doc.get("not_found_filenames", []))) + len(
            _list(doc.get("failed_to_open_filenames", []))
        )
        if chia.plots is None:
            chia.plots = len(loaded)
            chia.total_space_bytes = sum(_int(p["file_size"]) for p in loaded)
        chia.plots_missing = lost
        if lost:
            errors.append(ERR_CHIA_PLOTS_MISSING)
    chia.farming_status = _status(chia, errors)
    stats = MinerStats(status=STATUS_ONLINE, chia=chia, errors=errors)
    return Snapshot(stats=stats, config=MinerConfig(make="Chia"))


def _status(chia: ChiaStats, errors: list[str]) -> str:
    """chia-tea / ``chia farm summary`` wording, in snake case."""
    if chia.synced is False:
        return "syncing" if chia.syncing else "not_synced"
    if chia.plots == 0 or ERR_CHIA_NO_HARVESTERS in errors:
        return "no_plots"
    return "farming"


def plot_count(harvesters: Any) -> int | None:
    """Plots the farmer's harvesters report in all, or ``None`` if that cannot be told."""
    try:
        listed = harvesters["harvesters"]
        return sum(len(h["plots"]) if isinstance(h["plots"], list) else int(h["plots"])
                   for h in listed)  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None
