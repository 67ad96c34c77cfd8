"""Canned SDM630 register dumps (v2, v1 without per-phase energy, a lost phase) → exact
canonical values; the block planner reads the map in two requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.modbus_common import Block, decode_value, plan_blocks, register_dump
from hashfleet.drivers.modbus_meter.maps import MAPS, SDM120, SDM630
from hashfleet.drivers.modbus_meter.parse import ERR_PHASE_LOSS, parse_meter

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/modbus_meter/fixtures"


def load(name: str) -> dict[int, list[int]]:
    return register_dump(json.loads((FIXTURES / name).read_text()))


def test_sdm630_v2_dump_gives_exact_values() -> None:
    snap = parse_meter(SDM630, load("sdm630_v2_input.json"))
    s, m = snap.stats, snap.stats.meter
    assert m is not None
    assert (snap.config.make, snap.config.model) == ("Eastron", "SDM630")
    assert s.power_w == m.power_w and s.errors == []
    assert m.power_w is not None and 70_000 < m.power_w < 80_000
    assert m.power_w == pytest.approx(sum(p.power_w or 0 for p in m.phases), abs=1.0)
    assert [p.index for p in m.phases] == [0, 1, 2]
    for ph in m.phases:
        assert ph.voltage_v is not None and 225.0 <= ph.voltage_v <= 235.0
        assert ph.power_factor is not None and 0.94 < ph.power_factor <= 1.0
        assert ph.energy_kwh is not None and ph.energy_kwh > 0
        assert ph.current_a == pytest.approx(
            (ph.power_w or 0) / ph.power_factor / ph.voltage_v, rel=1e-3
        )
    assert m.energy_kwh == pytest.approx(sum(p.energy_kwh or 0 for p in m.phases), rel=1e-5)
    assert m.frequency_hz is not None and 49.9 < m.frequency_hz < 50.1


def test_sdm630_v1_quirk_leaves_phase_energy_none() -> None:
    blocks = load("sdm630_v1_no_phase_energy_input.json")
    assert list(blocks) == [0]  # the firmware difference under test
    m = parse_meter(SDM630, blocks).stats.meter
    assert m is not None and m.energy_kwh is not None
    assert [p.energy_kwh for p in m.phases] == [None, None, None]
    assert all(p.voltage_v for p in m.phases)


def test_lost_phase_is_an_error() -> None:
    snap = parse_meter(SDM630, load("sdm630_v2_phase_loss_input.json"))
    m = snap.stats.meter
    assert m is not None
    assert (m.phases[2].voltage_v, m.phases[2].current_a, m.phases[2].power_w) == (0, 0, 0)
    assert snap.stats.errors == [ERR_PHASE_LOSS]


def test_missing_required_block_is_invalid() -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse_meter(SDM630, {0x015A: [0] * 6})
    with pytest.raises(DeviceReplyInvalid):
        parse_meter(SDM630, {0: load("sdm630_v2_input.json")[0][:40]})  # short block


def test_nan_and_impossible_values_are_invalid() -> None:
    blocks = load("sdm630_v2_input.json")
    nan = dict(blocks)
    nan[0] = [0x7FC0, 0, *blocks[0][2:]]
    with pytest.raises(DeviceReplyInvalid):
        parse_meter(SDM630, nan)
    negative = dict(blocks)
    negative[0] = [0xC366, 0, *blocks[0][2:]]  # -230 V
    with pytest.raises(DeviceReplyInvalid):
        parse_meter(SDM630, negative)


def test_word_order_and_integer_kinds() -> None:
    assert decode_value([0x4366, 0x0000], "f32", "big") == 230.0
    assert decode_value([0x0000, 0x4366], "f32", "little") == 230.0
    assert decode_value([0xFF9C], "i16") == -100.0
    assert decode_value([0xFF9C], "u16") == 65436.0
    assert decode_value([0x0001, 0x0002], "u32") == 65538.0
    assert decode_value([0x0002, 0x0001], "u32", "little") == 65538.0
    assert decode_value([0xFFFF, 0xFFFE], "i32") == -2.0
    with pytest.raises(DeviceReplyInvalid):
        decode_value([0x10000], "u16")


def test_blocks_are_few_and_contiguous() -> None:
    assert plan_blocks(SDM630.regs) == [Block(0, 0x4A), Block(0x015A, 6, optional=True)]
    assert plan_blocks(SDM120.regs) == [Block(0, 0x4A)]
    assert sorted(MAPS) == ["sdm120", "sdm630"]
    # a block never passes the 125-register limit
    assert all(b.count <= 125 for b in plan_blocks(SDM630.regs, max_gap=1000, limit=125))


def test_malformed_dumps_are_invalid() -> None:
    docs: list[object] = [None, [], {"blocks": []}, {"blocks": {"x": [1]}},
                          {"blocks": {"0": [70000]}}, {"blocks": {"0": "abc"}},
                          {"blocks": {"0": [True]}}]  # fmt: skip
    for doc in docs:
        with pytest.raises(DeviceReplyInvalid):
            register_dump(doc)
