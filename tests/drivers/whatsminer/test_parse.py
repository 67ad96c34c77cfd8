"""Whatsminer parsers against canned btminer replies: API 2.0.5 and 2.0.4 (quirks), API 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.whatsminer.parse import decode_json, error_codes, parse_v2, parse_v3

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/whatsminer/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def v2(name: str) -> Any:
    doc = load(name)
    return parse_v2(doc["joined"], doc["bare"])


def test_api205_normal() -> None:
    snap = v2("m30splus_fw20220601_api205.json")
    s, c = snap.stats, snap.config
    assert (c.make, c.model, c.firmware) == ("WhatsMiner", "M30S+ V10", "20220601.22.REL")
    assert c.mac == "C6:0A:0A:00:04:15" and c.serial and c.hostname == "WhatsMiner"
    assert s.status == "online" and s.errors == [] and s.work_mode == "normal"
    assert s.hashrate_nominal == 100e12
    assert s.hashrate is not None and 95e12 < s.hashrate < 105e12
    assert len(s.hashboards) == 3 and all(b.ok and b.chips == 215 for b in s.hashboards)
    assert sum(b.hashrate or 0 for b in s.hashboards) == pytest.approx(s.hashrate, rel=1e-3)
    assert s.temp_max is not None and 55 < s.temp_max < 90
    assert [f.index for f in s.fans] == [0, 1] and all(f.rpm for f in s.fans)
    assert s.power_w and s.power_limit_w == 3700 and s.led is False
    assert len(s.pools) == 3 and s.pools[0].active and s.pools[0].accepted > 0
    assert s.uptime_s and s.uptime_s > 0


def test_overheat() -> None:
    s = v2("m30splus_fw20220601_overheat.json").stats
    assert s.errors == ["ERR_OVERHEAT"] and s.temp_max is not None and s.temp_max > 95


def test_dead_board() -> None:
    s = v2("m50s_fw20230508_dead_board.json").stats
    assert s.errors == ["ERR_HASHBOARD_DEAD"]
    dead = [b for b in s.hashboards if not b.ok]
    assert len(dead) == 1 and dead[0].hashrate == 0 and dead[0].chips == 0


def test_pool_down() -> None:
    s = v2("m50s_fw20230508_pool_down.json").stats
    assert s.errors == ["ERR_POOL_DOWN"]
    assert s.pools and not any(p.alive or p.active for p in s.pools)


def test_power_off_is_sleeping() -> None:
    s = v2("m50s_fw20230508_power_off.json").stats
    assert s.status == "sleeping" and s.work_mode == "sleep" and s.hashrate == 0
    assert s.errors == [] and all(b.ok for b in s.hashboards)


def test_api204_quirks() -> None:
    doc = load("m30splus_fw20210322_api204_quirks.json")
    joined = decode_json(doc["raw"]["joined"].encode())
    bare = dict(doc["bare"], get_error_code=decode_json(doc["raw"]["get_error_code"].encode()))
    snap = parse_v2(joined, bare)
    s = snap.stats
    assert snap.config.firmware == "20210322.22.REL"
    assert s.errors == ["ERR_OVERHEAT", "ERR_POOL_DOWN"]  # from the non-JSON error_code list
    assert s.hashrate is not None and s.hashrate > 90e12  # "MHS av" when "MHS 1m" is missing
    assert s.work_mode is None and s.power_limit_w is None and s.led is True
    assert s.temp_max is not None  # the board "Temperature" when chip temps are missing


def test_api3() -> None:
    doc = load("m60_fw20241202_api3.json")
    snap = parse_v3(doc["device"], doc["status"])
    s = snap.stats
    assert (snap.config.model, snap.config.firmware) == ("M60 VK10", "20241202.12.REL")
    assert s.hashrate is not None and 160e12 < s.hashrate < 180e12
    assert s.hashrate_nominal == 172e12 and len(s.hashboards) == 3 and len(s.pools) == 3
    assert s.power_w and s.power_limit_w and len(s.fans) == 2 and s.errors == []


def test_error_code_shapes() -> None:
    assert error_codes([{"350": "t"}, {"2020": "t", "reason": "x"}]) == [350, 2020]
    assert error_codes({"531": "t"}) == [531]
    assert error_codes([540, "541"]) == [540, 541]
    assert error_codes(None) == []
    with pytest.raises(DeviceReplyInvalid):
        error_codes("350")


def test_unknown_codes_are_kept() -> None:
    doc = load("m30splus_fw20220601_api205.json")
    doc["bare"]["get_error_code"]["Msg"]["error_code"] = [{"110": "t"}]
    assert parse_v2(doc["joined"], doc["bare"]).stats.errors == ["ERR_WHATSMINER_110"]


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["joined"].pop("summary"),
        lambda d: d["joined"]["summary"][0]["SUMMARY"][0].update({"Power": "lots"}),
        lambda d: d["joined"]["edevs"][0]["DEVS"][0].update({"MHS 1m": [1]}),
        lambda d: d["joined"]["pools"][0].update({"POOLS": {"URL": "x"}}),
        lambda d: d["bare"]["get_miner_info"].update({"Msg": "oops"}),
        lambda d: d["joined"]["summary"][0]["SUMMARY"][0].update({"Elapsed": float("inf")}),
    ],
)
def test_wrong_shapes_are_invalid(breakage: Any) -> None:
    doc = load("m30splus_fw20220601_api205.json")
    breakage(doc)
    with pytest.raises(DeviceReplyInvalid):
        parse_v2(doc["joined"], doc["bare"])


def test_decode_rejects_non_objects() -> None:
    for raw in (b"[1,2]", b"\xff\xfe{", b"", b'"x"'):
        with pytest.raises(DeviceReplyInvalid):
            decode_json(raw)
