"""Chia RPC fixtures → snapshots: Chia 2.x and the 1.2 farmer (``get_harvesters``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.chia.parse import missed_signage_points, parse
from hashfleet.sim.chia import K32_BYTES

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/chia/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_chia_2() -> None:
    snap = parse(**load("chia_2.1.json"))
    c = snap.stats.chia
    assert c is not None and snap.stats.errors == [] and snap.stats.hashrate is None
    assert c.synced is True and c.syncing is False and c.height == 8409600
    assert c.netspace_bytes and c.harvesters == 1 and c.plots == 40
    assert c.total_space_bytes == 40 * K32_BYTES
    assert c.signage_points == 8 and c.missed_challenges == 0 and c.proofs_found == 0
    assert c.farming_status == "farming" and snap.config.make == "Chia"


def test_chia_1_2_legacy_with_lost_plot_dir() -> None:
    snap = parse(**load("chia_1.2_legacy.json"))
    c = snap.stats.chia
    assert c is not None and c.harvesters == 2 and c.plots == 6 and c.plots_missing == 2
    assert c.total_space_bytes == 6 * K32_BYTES
    assert snap.stats.errors == ["ERR_CHIA_PLOTS_MISSING"]


def test_harvester_only() -> None:
    c = parse(plots=load("chia_2.1.json")["plots"]).stats.chia
    assert c is not None and c.plots == 4 and c.synced is None and c.farming_status == "farming"


def test_not_synced_and_no_harvesters() -> None:
    d = load("chia_2.1.json")
    d["blockchain"]["blockchain_state"]["sync"].update(synced=False, sync_mode=True)
    d["harvesters"]["harvesters"] = []
    snap = parse(d["blockchain"], d["harvesters"])
    assert snap.stats.errors == ["ERR_CHIA_NOT_SYNCED", "ERR_CHIA_NO_HARVESTERS"]
    assert snap.stats.chia is not None and snap.stats.chia.farming_status == "syncing"


def test_missed_signage_points_are_gaps_per_challenge() -> None:
    def sp(ch: str, i: int) -> dict[str, Any]:
        return {"signage_point": {"challenge_hash": ch, "signage_point_index": i}, "proofs": []}

    points = [sp("a", 0), sp("a", 1), sp("a", 4), sp("b", 10), sp("b", 12)]
    assert missed_signage_points(points) == 3


def test_success_false_is_a_failed_command() -> None:
    with pytest.raises(DeviceCommandFailed):
        parse(blockchain={"success": False, "error": "not ready"})


@pytest.mark.parametrize("bad", [None, [], {"blockchain_state": {}}, {"success": "yes"}])
def test_bad_shapes(bad: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(blockchain=bad if bad is not None else "x")
