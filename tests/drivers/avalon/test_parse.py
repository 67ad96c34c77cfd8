"""Canned Avalon replies (JSON of two firmwares, text of a third) → exact canonical values;
broken replies → DeviceReplyInvalid."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.avalon.parse import decode_text, model_name, parse_joined, parse_mm
from hashfleet.drivers.common.cgminer import check_status, decode_reply
from hashfleet.model.snapshot import Fan

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/avalon/fixtures"
A1246 = "a1246_fw21042001_version+summary+estats+pools.json"
A1366 = "a1366_fw23090601_split_estats_quirks_version+summary+estats+pools.json"
DEAD = "a1246_fw21042001_dead_board_version+summary+estats+pools.json"
HOT = "a1246_fw21042001_overheat_version+summary+estats+pools.json"
NANO3_TEXT = "nano3_fw24052401_softoff_text.json"


def load(name: str) -> dict[str, Any]:
    data = decode_reply((FIXTURES / name).read_bytes())
    check_status(data, "version+summary+estats+pools")
    return data


def load_text(name: str) -> dict[str, Any]:
    texts = json.loads((FIXTURES / name).read_text())
    return {cmd: [decode_text(text.encode())] for cmd, text in texts.items()}


def test_1246_json_reads_power_from_ps_when_wallpower_is_missing() -> None:
    snap = parse_joined(load(A1246))
    s, c = snap.stats, snap.config
    assert (c.make, c.model, c.firmware) == ("Avalon", "1246", "21042001_4ec6bb0_c2fd1e6")
    assert (c.mac, c.serial) == ("B4:A2:EB:A8:01:29", "0201240a5ea50626")
    assert s.status == "online" and s.errors == []
    assert s.hashrate == 89943943180000.0  # summary "MHS 1m"
    assert s.hashrate_nominal == 90e12  # GHSmm
    assert s.power_w == 3428.0  # PS[6]: this firmware has no WALLPOWER
    assert s.power_limit_w == 3591.0  # MPO
    assert (s.temp_max, s.uptime_s, s.work_mode, s.led) == (71.0, 785654, "normal", False)
    assert [(b.hashrate, b.temp_chip, b.temp_board, b.chips) for b in s.hashboards] == [
        (29813660000000.0, 67.0, 61.0, 120),
        (29814320000000.0, 71.0, 64.0, 120),
        (30315960000000.0, 71.0, 64.0, 120),
    ]
    assert all(b.ok and b.chips_expected == 120 for b in s.hashboards)
    assert s.fans == [Fan(index=0, rpm=5371), Fan(index=1, rpm=5457), Fan(index=2, rpm=5367),
                      Fan(index=3, rpm=5373)]  # fmt: skip
    assert [(p.active, p.alive, p.accepted) for p in s.pools] == [
        (True, True, 250957), (False, True, 0), (False, True, 0)
    ]  # fmt: skip
    assert (s.algorithm, s.coin) == ("sha256d", "BTC")


def test_1366_split_estats_and_quoted_nan_inf_are_read() -> None:
    reply = load(A1366)
    assert "MM ID0:Summary" in reply["estats"][0]["STATS"][0]  # the quirk under test
    s = parse_joined(reply).stats
    assert parse_joined(reply).config.model == "1366"
    assert s.power_w == 3297.0  # WALLPOWER
    assert [b.chips for b in s.hashboards] == [114, 114, 114]  # PVT_Tn from HBinfo
    assert [b.hashrate for b in s.hashboards] == [39816500000000.0, 39077310000000.0,
                                                  39181430000000.0]  # fmt: skip
    assert s.hashrate == 118075241980000.0 and s.errors == []


def test_dead_board_and_overheat_are_flagged() -> None:
    dead = parse_joined(load(DEAD)).stats
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in dead.hashboards] == [True, False, True]
    assert (dead.hashboards[1].hashrate, dead.hashboards[1].chips) == (0.0, 0)
    hot = parse_joined(load(HOT)).stats
    assert hot.errors == ["ERR_OVERHEAT"] and hot.temp_max == 108.0


def test_nano3_text_replies_in_softoff() -> None:
    snap = parse_joined(load_text(NANO3_TEXT))
    s = snap.stats
    assert (snap.config.model, snap.config.mac) == ("Nano 3", "B4:A2:EB:A8:01:2C")
    assert (s.status, s.work_mode, s.led) == ("sleeping", "sleep", True)
    assert s.hashrate == 0.0 and s.errors == []  # switched off is not a dead board
    assert [b.ok for b in s.hashboards] == [True]
    assert (s.power_w, s.power_limit_w, s.uptime_s) == (9.0, 147.0, 191030)
    assert s.fans == [Fan(index=0, rpm=989)]
    assert [p.accepted for p in s.pools] == [2711, 0, 0]
    assert s.pools[0].active is True  # text "true"


def test_text_decoding_unescapes_and_names_sections() -> None:
    raw = (b"STATUS=S,When=5,Code=7,Msg=2 Pool(s),Description=cgminer 4.11.1|"
           b"POOL=0,URL=stratum+tcp://a\\,b:1,User=x\\=y\\|z\\\\,Stratum Active=true|"
           b"POOL=1,URL=u,User=v,Stratum Active=false|\x00")  # fmt: skip
    reply = decode_text(raw)
    assert reply["STATUS"][0] == {"STATUS": "S", "When": "5", "Code": "7", "Msg": "2 Pool(s)",
                                  "Description": "cgminer 4.11.1"}  # fmt: skip
    assert [r["URL"] for r in reply["POOLS"]] == ["stratum+tcp://a,b:1", "u"]
    assert reply["POOLS"][0]["User"] == "x=y|z\\"


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00", b"{\"STATUS\":[]}", b"STATUS=Q,When=1|", b"STATUS=S,When=1|SUMMARY,Elapsed|",
     b"STATUS=S,\xff\xfe|", b"<html>"],
)  # fmt: skip
def test_text_that_is_not_cgminer_text_is_invalid(raw: bytes) -> None:
    with pytest.raises(DeviceReplyInvalid):
        decode_text(raw)


def test_mm_string_parsing_is_robust() -> None:
    mm = parse_mm("Ver[1246-90-x] SYSTEMSTATU[Work: In Work, Hash Board: 3] PVT_T0[ 60 61  62 ] "
                  "DH[1.0%] DH[2.0%] broken[ Fan1[5400] Temp[]")  # fmt: skip
    assert mm["Ver"] == "1246-90-x" and mm["PVT_T0"] == "60 61  62"
    assert mm["DH"] == "1.0%"  # the first of a repeated key wins
    assert mm["Fan1"] == "5400" and mm["Temp"] == ""
    assert mm["SYSTEMSTATU"] == "Work: In Work, Hash Board: 3"


def test_model_names() -> None:
    assert model_name({"PROD": "AvalonMiner 1246-90", "MODEL": "1246-90"}) == "1246"
    assert model_name({"PROD": "AvalonNano", "MODEL": "Nano3"}) == "Nano 3"
    assert model_name({"PROD": "AvalonMiner 1166Pro"}) == "1166Pro"
    assert model_name({}) is None


@pytest.mark.parametrize(
    "path, value",
    [(("summary", 0, "SUMMARY"), {"a": 1}), (("estats", 0, "STATS"), "x"),
     (("pools", 0, "POOLS", 0, "Accepted"), [1]), (("summary", 0, "SUMMARY", 0, "MHS 1m"), "fast")],
)  # fmt: skip
def test_wrong_shapes_are_invalid(path: tuple[Any, ...], value: Any) -> None:
    reply = copy.deepcopy(load(A1246))
    target: Any = reply
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(DeviceReplyInvalid):
        parse_joined(reply)


def test_bad_mm_values_are_invalid() -> None:
    reply = copy.deepcopy(load(A1246))
    row = reply["estats"][0]["STATS"][0]
    row["MM ID0"] = row["MM ID0"].replace("MGHS[", "MGHS[abc ")
    with pytest.raises(DeviceReplyInvalid):
        parse_joined(reply)


def test_reply_without_summary_is_invalid() -> None:
    reply = load(A1246)
    del reply["summary"]
    with pytest.raises(DeviceReplyInvalid):
        parse_joined(reply)
