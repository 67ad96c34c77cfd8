"""Canned IceRiver panel documents (three firmwares) → exact canonical values; broken
documents → DeviceReplyInvalid."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.iceriver.client import json_object
from hashfleet.drivers.iceriver.parse import model_name, parse_userpanel
from hashfleet.model.snapshot import Fan

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/iceriver/fixtures"
KS3M = "ks3m_fw1.1.20_userpanel.json"
KS5L = "ks5l_fw1.3.4_unit_T_userpanel.json"
KS0 = "ks0_fw0.0.42_strings_userpanel.json"
DEAD = "ks3m_fw1.1.20_dead_board_userpanel.json"


def load(name: str) -> dict[str, Any]:
    return json_object((FIXTURES / name).read_bytes(), "/user/userpanel")


def test_ks3m_panel_gives_exact_canonical_values() -> None:
    snap = parse_userpanel(load(KS3M))
    s, c = snap.stats, snap.config
    assert (c.make, c.model, c.firmware) == ("IceRiver", "KS3M", "1.1.20")
    assert (c.mac, c.hostname) == ("02:1E:C0:A8:02:1F", "KS3M-002031")
    assert (s.algorithm, s.coin, s.status, s.errors) == ("kHeavyHash", "KAS", "online", [])
    assert s.hashrate == 6010320000000.0 and s.hashrate_nominal == 6e12
    assert s.power_w is None  # the panel does not report power
    assert (s.temp_max, s.uptime_s, s.led) == (62.0, 291045, False)
    assert [(b.index, b.hashrate, b.temp_chip, b.temp_board, b.chips) for b in s.hashboards] == [
        (0, 1989020000000.0, 61.0, 39.0, 18),
        (1, 2016470000000.0, 62.0, 40.0, 18),
        (2, 2004840000000.0, 61.0, 40.0, 18),
    ]
    assert all(b.ok and b.chips_expected == 18 for b in s.hashboards)
    assert s.fans == [Fan(index=0, rpm=4540), Fan(index=1, rpm=4609), Fan(index=2, rpm=4488),
                      Fan(index=3, rpm=4532)]  # fmt: skip
    assert [(p.active, p.alive, p.accepted) for p in s.pools] == [
        (True, True, 99065), (False, True, 0), (False, True, 0)
    ]  # fmt: skip


def test_ks5l_panel_in_terahash_units() -> None:
    doc = load(KS5L)
    assert doc["data"]["unit"] == "T"  # the firmware difference under test
    snap = parse_userpanel(doc)
    assert snap.config.model == "KS5L"  # softver1 "20240315_ks5lminer"
    assert snap.stats.hashrate == 11968000000000.0
    assert sum(b.hashrate or 0 for b in snap.stats.hashboards) == pytest.approx(11968.17e9)


def test_ks0_old_firmware_strings_short_runtime_and_empty_slot() -> None:
    s = parse_userpanel(load(KS0)).stats
    assert s.uptime_s == 5 * 3600 + 33 * 60 + 17  # "05:33:17", no days field
    assert [(b.chips, b.temp_chip) for b in s.hashboards] == [(2, 60.0)]
    assert [p.url for p in s.pools] == [
        "stratum+tcp://kas.pool.example.net:5555",
        "stratum+tcp://kas-backup.pool.example.net:5555",
    ]
    assert s.pools[0].accepted == 9069 and s.fans == [Fan(index=0, rpm=3686)]


def test_dead_board_is_flagged() -> None:
    s = parse_userpanel(load(DEAD)).stats
    assert s.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in s.hashboards] == [False, True, True]
    assert (s.hashboards[0].hashrate, s.hashboards[0].chips) == (0.0, 0)


def test_model_names() -> None:
    assert model_name({"softver1": "ks3m_miner"}) == "KS3M"
    assert model_name({"softver1": "20240315_ks5lminer"}) == "KS5L"
    assert model_name({"softver1": "", "model": "ks0"}) == "KS0"
    assert model_name({"model": "none"}) is None


@pytest.mark.parametrize(
    "key, value",
    [("boards", {"no": 1}), ("fans", "4000"), ("rtpow", "fast"), ("runtime", "1:2:3:4:5"),
     ("pools", [1, 2]), ("rtpow", "12.0Q")],
)  # fmt: skip
def test_wrong_shapes_are_invalid(key: str, value: Any) -> None:
    doc = copy.deepcopy(load(KS3M))
    doc["data"][key] = value
    with pytest.raises(DeviceReplyInvalid):
        parse_userpanel(doc)


@pytest.mark.parametrize("doc", [[], {"code": 1, "msg": "no login"}, {"code": 0, "data": []}])
def test_documents_that_are_not_a_panel_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse_userpanel(doc)


@pytest.mark.parametrize("raw", [b"", b"<html>login</html>", b"[1]", b'{"a": "\xff"}'])
def test_bodies_that_are_not_json_objects_are_invalid(raw: bytes) -> None:
    with pytest.raises(DeviceReplyInvalid):
        json_object(raw, "/user/userpanel")
