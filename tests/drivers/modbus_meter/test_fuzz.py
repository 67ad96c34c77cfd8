"""The meter decoder, fed random registers, short or missing blocks and mutated dumps,
returns a snapshot or raises a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.modbus_common import register_dump
from hashfleet.drivers.modbus_meter.maps import MAPS
from hashfleet.drivers.modbus_meter.parse import parse_meter
from tests.support.fuzz import mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/modbus_meter/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORD = st.integers(0, 0xFFFF)


@FUZZ
@given(
    st.sampled_from(sorted(MAPS)),
    st.dictionaries(
        st.sampled_from([0, 0x20, 0x46, 0x15A]), st.lists(WORD, max_size=80), max_size=3
    ),
)
def test_random_registers_and_short_blocks(name: str, blocks: dict[int, list[int]]) -> None:
    only_device_errors(lambda: parse_meter(MAPS[name], blocks))


@FUZZ
@given(st.lists(WORD, min_size=74, max_size=74), st.integers(0, 74))
def test_full_random_block_cut_short(words: list[int], cut: int) -> None:
    only_device_errors(lambda: parse_meter(MAPS["sdm630"], {0: words[:cut]}))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_docs))
def test_mutated_dumps(doc: Any) -> None:
    only_device_errors(lambda: parse_meter(MAPS["sdm630"], register_dump(doc)))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_json_bytes))
def test_broken_dump_bytes(raw: bytes) -> None:
    def parse() -> object:
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        return parse_meter(MAPS["sdm630"], register_dump(doc))

    only_device_errors(parse)
