"""The BOSminer parser against canned replies of two firmware shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.braiins.parse import parse_bosminer

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/braiins/fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_s19jpro_reads_everything() -> None:
    snap = parse_bosminer(load("s19jpro_bosminer_0.9.0_joined.json"))
    s, c = snap.stats, snap.config
    assert (c.make, c.model, c.firmware) == ("Antminer", "S19j Pro", "BOSminer 0.9.0-2ca8fb48")
    assert s.status == "online" and s.errors == [] and s.work_mode == "normal"
    assert s.hashrate is not None and 95e12 < s.hashrate < 115e12
    assert s.hashrate_nominal == pytest.approx(104e12, rel=1e-6)
    assert len(s.hashboards) == 3 and all(b.ok and b.chips == 126 for b in s.hashboards)
    assert all(b.temp_chip and b.temp_board for b in s.hashboards)
    assert len(s.fans) == 4 and all(f.rpm for f in s.fans)
    assert s.power_w and 2800 < s.power_w < 3300 and s.power_limit_w
    assert s.pools[0].active and s.pools[0].alive and s.uptime_s


def test_chains_numbered_from_6_string_rates_and_dead_board() -> None:
    snap = parse_bosminer(load("s19xp_bosminer_chains6-8_dead_board_joined.json"))
    s = snap.stats
    assert snap.config.model == "S19 XP"
    assert [b.ok for b in s.hashboards].count(False) == 1
    dead = next(b for b in s.hashboards if not b.ok)
    assert dead.chips == 0 and not dead.hashrate and dead.temp_chip is None
    assert "ERR_HASHBOARD_DEAD" in s.errors and s.status == "online"
    assert all(b.hashrate for b in s.hashboards if b.ok)


def test_wrong_shapes_are_invalid() -> None:
    doc = load("s19jpro_bosminer_0.9.0_joined.json")
    doc["devs"][0]["DEVS"] = "nope"
    with pytest.raises(DeviceReplyInvalid):
        parse_bosminer(doc)
    with pytest.raises(DeviceReplyInvalid):
        parse_bosminer({"version": [{}]})
