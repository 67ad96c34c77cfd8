"""Canned stock web UI replies (2021 S19j Pro, 2023 S21) → identity, work mode, light."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.antminer.web_parse import (
    Identity,
    check_write,
    conf_update,
    decode_web,
    parse_blink_status,
    parse_miner_conf,
    parse_system_info,
    parse_web_stats,
)

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/antminer/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


S19J = load("web_s19jpro_2021.json")
S21 = load("web_s21_2023.json")


def test_2021_firmware_has_no_serial_and_a_lower_case_mac() -> None:
    ident = parse_system_info(S19J["get_system_info"])
    assert ident == Identity("Antminer S19j Pro", "C8:F0:9E:12:34:56", "Antminer", None)
    conf = parse_miner_conf(S19J["get_miner_conf"])
    assert conf.work_mode == "normal"  # "" = never saved = normal
    assert conf.pools == [
        ("stratum+tcp://btc.f2pool.com:1314", "farm1.s19j017", "21235365876986800"),
        ("stratum+tcp://btc-euro.f2pool.com:1314", "farm1.s19j017", "x"),
    ]
    assert parse_blink_status(S19J["get_blink_status"]) is False


def test_2023_s21_reports_serial_sleep_and_light() -> None:
    ident = parse_system_info(S21["get_system_info"])
    assert ident == Identity("Antminer S21", "E0:A5:09:AB:CD:EF", "s21-rack4-07",
                             "JYZZF4BBCJBJA0123")  # fmt: skip
    conf = parse_miner_conf(S21["get_miner_conf"])
    assert conf.work_mode == "sleep"
    assert len(conf.pools) == 3
    assert parse_blink_status(S21["get_blink_status"]) is True


@pytest.mark.parametrize(("raw", "mode"), [("0", "normal"), (1, "sleep"), ("3", "low"),
                                           ("7", None), (" 1 ", "sleep")])  # fmt: skip
def test_work_mode_codes(raw: object, mode: str | None) -> None:
    doc = copy.deepcopy(S21["get_miner_conf"])
    doc["bitmain-work-mode"] = raw
    assert parse_miner_conf(doc).work_mode == mode


def test_blink_as_a_word() -> None:
    assert parse_blink_status({"blink": "true"}) is True
    with pytest.raises(DeviceReplyInvalid):
        parse_blink_status({"isBlinking": True})


def test_write_replies() -> None:
    check_write(S19J["set_miner_conf"], "set_miner_conf", ("M000",))
    check_write(S19J["blink"], "blink", ("B000",))
    with pytest.raises(DeviceCommandFailed, match=r"M001.*Illegal"):
        check_write({"stats": "error", "code": "M001", "msg": "Illegal json!"},
                    "set_miner_conf", ("M000",))  # fmt: skip


def test_conf_update_keeps_the_saved_mode_and_fills_three_slots() -> None:
    conf = parse_miner_conf(S19J["get_miner_conf"])
    body = conf_update(conf, pools=[("stratum+tcp://a:1", "u", "p")])
    assert body["bitmain-work-mode"] == "0" and body["miner-mode"] == 0
    assert (
        body["pools"]
        == [{"url": "stratum+tcp://a:1", "user": "u", "pass": "p"}]
        + [{"url": "", "user": "", "pass": ""}] * 2
    )
    low = copy.deepcopy(S19J["get_miner_conf"])
    low["bitmain-work-mode"] = "3"
    assert conf_update(parse_miner_conf(low))["bitmain-work-mode"] == "3"
    assert conf_update(conf, mode="sleep")["bitmain-work-mode"] == "1"
    with pytest.raises(ValueError):
        conf_update(conf, mode="turbo")


@pytest.mark.parametrize(
    "doc", [[], "x", None, {"macaddr": ["a"]}, {"hostname": {"a": 1}}, {"minertype": True}]
)
def test_broken_system_info(doc: object) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse_system_info(doc)


@pytest.mark.parametrize(
    "doc", [[], {"pools": "x"}, {"pools": [1]}, {"bitmain-work-mode": [1]},
            {"bitmain-work-mode": True}, {"pools": [{"url": 5.5j}]}]
)  # fmt: skip
def test_broken_miner_conf(doc: object) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse_miner_conf(doc)


def test_decode_web() -> None:
    assert decode_web(b'{"blink": false}') == {"blink": False}
    with pytest.raises(DeviceReplyInvalid):
        decode_web(b"<html>401</html>")


def test_web_stats_of_a_mining_s19jpro() -> None:
    snap = parse_web_stats(S19J["summary"], S19J["stats"], S19J["pools"])
    s = snap.stats
    assert (snap.config.make, snap.config.model) == ("Antminer", "S19j Pro")
    assert snap.config.firmware == "Mon Nov 29 16:50:09 CST 2021"
    assert (s.status, s.work_mode, s.errors) == ("online", "normal", [])
    assert (s.hashrate, s.hashrate_nominal, s.uptime_s) == (103_901_820e6, 104e12, 416_689)
    assert [(b.hashrate, b.chips, b.temp_board, b.temp_chip, b.ok) for b in s.hashboards] == [
        (34_748_720e6, 126, 55.0, 70.0, True),
        (34_514_550e6, 126, 59.0, 74.0, True),
        (34_638_550e6, 126, 63.0, 78.0, True),
    ]
    assert s.temp_max == 78.0 and s.power_w is None  # the web UI reports no power
    assert [f.rpm for f in s.fans] == [5820] * 4
    assert [(p.alive, p.active, p.accepted, p.rejected) for p in s.pools] == [
        (True, True, 153_836, 123), (True, False, 0, 0), (True, False, 0, 0)
    ]  # fmt: skip


def test_web_stats_of_a_sleeping_s21() -> None:
    s = parse_web_stats(S21["summary"], S21["stats"], S21["pools"]).stats
    assert (s.status, s.work_mode, s.hashrate, s.errors) == ("sleeping", "sleep", 0.0, [])
    assert all(b.ok and b.chips == 108 and b.hashrate == 0 for b in s.hashboards)
    assert s.hashrate_nominal == 200e12
    assert [f.rpm for f in s.fans] == [1140, 1140, 1200, 1200]


def test_web_stats_flags_a_dead_board_and_dead_pools() -> None:
    stats, pools = copy.deepcopy(S19J["stats"]), copy.deepcopy(S19J["pools"])
    stats["STATS"][0]["chain"][1].update(rate_real=0.0, asic_num=0)
    for row in pools["POOLS"]:
        row["status"] = "Dead"
    s = parse_web_stats(S19J["summary"], stats, pools).stats
    assert s.errors == ["ERR_HASHBOARD_DEAD", "ERR_POOL_DOWN"]
    assert [p.active for p in s.pools] == [False, False, False]


@pytest.mark.parametrize(
    ("summary", "stats", "pools"),
    [
        ({"SUMMARY": [{}]}, {"STATS": []}, {"POOLS": []}),
        ({"SUMMARY": [{}]}, {"STATS": [{"chain": 3}]}, {}),
        ({"SUMMARY": "x"}, {"STATS": [{}]}, {}),
        ({"SUMMARY": [{}]}, {"STATS": [{}]}, {"POOLS": [2]}),
        ({"SUMMARY": [{}]}, {"STATS": [{"rate_unit": "ZH"}]}, {}),
        ({"SUMMARY": [{}]}, {"STATS": [{"fan": {"a": 1}}]}, {}),
    ],
)
def test_broken_web_stats(summary: object, stats: object, pools: object) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse_web_stats(summary, stats, pools)
