"""Canned sensor register dumps (hall, sub-zero outdoor, broken probe) → exact values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.modbus_common import register_dump
from hashfleet.drivers.modbus_sensor.parse import ERR_SENSOR_FAULT, dew_point, parse_sensor

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/modbus_sensor/fixtures"


def load(name: str) -> dict[int, list[int]]:
    return register_dump(json.loads((FIXTURES / name).read_text()))


def test_hall_sensor_exact_values() -> None:
    s = parse_sensor(load("xy-md02_hall_input.json")).stats
    assert s.environment is not None
    assert (s.environment.temperature_c, s.environment.humidity_pct) == (30.6, 38.5)
    assert s.environment.dew_point_c == 14.9
    assert s.temp_max == 30.6 and s.errors == []


def test_negative_temperature_is_signed() -> None:
    blocks = load("sht20_outdoor_negative_input.json")
    assert blocks[1][0] > 0x8000  # the two's complement quirk under test
    env = parse_sensor(blocks).stats.environment
    assert env is not None and env.temperature_c == -4.7 and env.humidity_pct == 81.0
    assert env.dew_point_c == -7.5


def test_broken_probe_is_an_error_without_values() -> None:
    s = parse_sensor(load("xy-md02_probe_failed_input.json")).stats
    assert s.errors == [ERR_SENSOR_FAULT] and s.temp_max is None
    assert s.environment is not None and s.environment.temperature_c is None


def test_dew_point() -> None:
    assert dew_point(20.0, 100.0) == 20.0
    assert dew_point(25.0, 50.0) == 13.9
    assert dew_point(25.0, 0.0) is None


def test_out_of_range_and_short_replies_are_invalid() -> None:
    cases: list[dict[int, list[int]]] = [
        {1: [306]},
        {1: []},
        {2: [1, 2]},
        {1: [306, 1200]},
        {1: [2000, 300]},
    ]
    for blocks in cases:
        with pytest.raises(DeviceReplyInvalid):
            parse_sensor(blocks)
