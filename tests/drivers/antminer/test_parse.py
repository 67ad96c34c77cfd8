"""Canned bmminer replies → exact canonical values; broken replies → DeviceReplyInvalid."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.antminer.parse import parse_joined
from hashfleet.drivers.common.cgminer import check_status, decode_reply
from hashfleet.model.snapshot import Fan, Hashboard, Pool

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/antminer/fixtures"
S19JPRO = "s19jpro_bmminer_summary+stats+pools+version.json"
QUIRKS = "s19pro_bmminer_quirks_summary+stats+pools+version.json"
DEAD = "s21_bmminer_dead_board_summary+stats+pools+version.json"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> dict[str, Any]:
    data = decode_reply(raw(name))
    check_status(data, "summary+stats+pools+version")
    return data


def stats_block(reply: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = reply["stats"][0]["STATS"][1]
    return block


def test_s19jpro_reply_gives_exact_canonical_values() -> None:
    snap = parse_joined(load(S19JPRO))
    s = snap.stats
    assert s.status == "online"
    assert s.hashrate == 103_751.51e9
    assert s.hashrate_nominal == 104_000e9
    assert (s.algorithm, s.coin) == ("sha256d", "BTC")
    assert s.power_w == 3072.05
    assert s.uptime_s == 564_451
    assert s.temp_max == 77.0
    assert s.hashboards == [
        Hashboard(index=0, hashrate=34_734.76e9, temp_board=58.0, temp_chip=73.0, chips=126,
                  chips_expected=126),
        Hashboard(index=1, hashrate=34_373.94e9, temp_board=57.0, temp_chip=72.0, chips=126,
                  chips_expected=126),
        Hashboard(index=2, hashrate=34_753.64e9, temp_board=62.0, temp_chip=77.0, chips=126,
                  chips_expected=126),
    ]  # fmt: skip
    assert s.fans == [Fan(index=0, rpm=5760), Fan(index=1, rpm=5760), Fan(index=2, rpm=5880),
                      Fan(index=3, rpm=5880)]  # fmt: skip
    user = "fleet.192x168x1x37"
    assert s.pools == [
        Pool(url="stratum+tcp://btc.pool.example.net:3333", user=user, active=True,
             accepted=208_387, rejected=166),
        Pool(url="stratum+tcp://btc-backup.pool.example.net:443", user=user),
        Pool(url="stratum+tcp://btc-eu.pool.example.net:25", user=user),
    ]  # fmt: skip
    assert s.errors == []
    assert snap.config.make == "Antminer"
    assert snap.config.model == "S19j Pro"
    assert snap.config.firmware == "Mon Nov 29 16:50:09 CST 2021"


def test_quirks_numbers_as_strings_brace_brace_and_nul_are_tolerated() -> None:
    body = raw(QUIRKS)
    assert b"}{" in body and b'"GHS 5s":"109635.31"' in body
    data = decode_reply(body.rstrip() + b"\x00")
    check_status(data, "summary+stats+pools+version")
    s = parse_joined(data).stats
    assert s.hashrate == 109_635.31e9
    assert s.hashrate_nominal == 110_000e9
    assert s.uptime_s == 1_079_089
    assert [b.chips for b in s.hashboards] == [114, 114, 114]
    assert [b.hashrate for b in s.hashboards] == [36_890.66e9, 36_496.64e9, 36_529.58e9]
    assert [f.rpm for f in s.fans] == [6120, 6120, 6000, 6000]
    assert s.pools[0].accepted == 421_369
    assert s.errors == []


def test_dead_board_is_flagged_and_the_device_stays_online() -> None:
    s = parse_joined(load(DEAD)).stats
    assert s.status == "online"
    assert s.hashboards[2] == Hashboard(index=2, hashrate=0.0, chips=0, chips_expected=108,
                                        ok=False)  # fmt: skip
    assert [b.ok for b in s.hashboards] == [True, True, False]
    assert s.hashrate == 133_748.05e9
    assert s.errors == ["ERR_HASHBOARD_DEAD"]


def test_overheat_variant_is_flagged_at_90_degrees() -> None:
    reply = load(S19JPRO)
    variant = copy.deepcopy(reply)
    stats_block(variant)["temp_chip2"] = "75-76-89-90"
    s = parse_joined(variant).stats
    assert s.temp_max == 90.0
    assert s.errors == ["ERR_OVERHEAT"]
    stats_block(variant)["temp_chip2"] = "75-76-88-89"
    assert parse_joined(variant).stats.errors == []


def test_all_pools_dead_is_flagged() -> None:
    reply = load(S19JPRO)
    for row in reply["pools"][0]["POOLS"]:
        row["Status"] = "Dead"
        row["Stratum Active"] = False
    s = parse_joined(reply).stats
    assert [p.alive for p in s.pools] == [False, False, False]
    assert s.errors == ["ERR_POOL_DOWN"]


def test_s9_style_fans_on_odd_slots() -> None:
    reply = load(S19JPRO)
    block = stats_block(reply)
    block["fan_num"] = 2
    for n in range(1, 9):
        block[f"fan{n}"] = {3: 5880, 6: 5760}.get(n, 0)
    fans = parse_joined(reply).stats.fans
    assert fans == [Fan(index=2, rpm=5880), Fan(index=5, rpm=5760)]


def test_stopped_fan_is_reported_at_zero() -> None:
    reply = load(S19JPRO)
    stats_block(reply)["fan2"] = 0
    assert [f.rpm for f in parse_joined(reply).stats.fans] == [5760, 0, 5880, 5880]


def test_no_pools_status_means_an_empty_pool_list() -> None:
    reply = load(S19JPRO)
    no_pools = {"STATUS": "E", "When": 1, "Code": 8, "Msg": "No pools", "Description": "x"}
    reply["pools"] = [{"STATUS": [no_pools], "id": 1}]
    check_status(reply, "summary+stats+pools+version")
    s = parse_joined(reply).stats
    assert s.pools == []
    assert "ERR_POOL_DOWN" not in s.errors


def test_restart_reply_which_is_not_json_is_understood() -> None:
    data = decode_reply(b'{"RESTART","id":1}\x00')
    assert data["STATUS"] == "RESTART"
    check_status(data, "restart")


def test_error_status_raises_command_failed_with_its_code() -> None:
    data = decode_reply(
        b'{"STATUS":[{"STATUS":"E","When":1,"Code":45,"Msg":"Access denied to '
        b'\'devdetails\' command","Description":"bmminer 1.0.0"}],"id":1}\x00'
    )
    with pytest.raises(DeviceCommandFailed) as info:
        check_status(data, "devdetails")
    assert info.value.details["status_code"] == 45
    assert info.value.code == "ERR_DEVICE_COMMAND_FAILED"


def test_error_inside_a_joined_reply_raises_command_failed() -> None:
    reply = load(S19JPRO)
    fatal = {"STATUS": "F", "When": 1, "Code": -1, "Msg": "77", "Description": "x"}
    reply["stats"] = [{"STATUS": [fatal], "id": 1}]
    with pytest.raises(DeviceCommandFailed):
        check_status(reply, "summary+stats+pools+version")


@pytest.mark.parametrize(
    "body",
    [
        b"\x16\x03\x01\x00\xa5garbage<html>",
        b"",
        b"[1, 2, 3]",
        b'"STATUS"',
        b"STATUS=S,When=1,Code=11,Msg=Summary|SUMMARY,Elapsed=5|",
    ],
)
def test_garbage_is_an_invalid_reply(body: bytes) -> None:
    with pytest.raises(DeviceReplyInvalid):
        decode_reply(body)


def test_truncated_reply_is_invalid() -> None:
    body = raw(S19JPRO)
    with pytest.raises(DeviceReplyInvalid):
        decode_reply(body[: len(body) // 2])


def test_joined_part_that_is_not_a_list_is_invalid() -> None:
    reply = load(S19JPRO)
    reply["summary"] = {"STATUS": [{"STATUS": "S"}]}
    with pytest.raises(DeviceReplyInvalid):
        check_status(reply, "summary+stats+pools+version")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("summary", 0, "SUMMARY", 0, "GHS 5s"), [1, 2]),
        (("summary", 0, "SUMMARY", 0, "GHS 5s"), "fast"),
        (("stats", 0, "STATS", 1, "chain_rate1"), {"rate": 1}),
        (("stats", 0, "STATS", 1, "temp_chip1"), "hot-hot"),
        (("stats", 0, "STATS", 1, "rate_unit"), "furlongs"),
        (("pools", 0, "POOLS"), {"POOL": 0}),
        (("summary", 0, "SUMMARY"), []),
        # Not finite (Python's json reads Infinity and NaN): garbage, not a crash.
        (("stats", 0, "STATS", 1, "chain_acn1"), float("inf")),
        (("stats", 0, "STATS", 1, "chain_rate1"), "nan"),
        (("stats", 0, "STATS", 1, "fan1"), float("-inf")),
        (("stats", 0, "STATS", 1, "chain_power"), "inf W"),
    ],
)
def test_wrong_types_are_invalid(path: tuple[Any, ...], value: Any) -> None:
    reply = load(S19JPRO)
    target: Any = reply
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(DeviceReplyInvalid):
        parse_joined(reply)


def test_missing_summary_is_invalid() -> None:
    reply = load(S19JPRO)
    del reply["summary"]
    with pytest.raises(DeviceReplyInvalid):
        parse_joined(reply)


def test_fixtures_are_valid_json_objects() -> None:
    for path in FIXTURES.glob("*.json"):
        text = path.read_text()
        if "}{" not in text:  # the quirks fixture is deliberately not strict JSON
            assert isinstance(json.loads(text), dict), path.name
