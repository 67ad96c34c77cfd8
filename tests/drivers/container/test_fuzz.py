"""The container decoder, fed random and short register/bit lists and mutated dumps,
returns a snapshot or raises a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.container.parse import parse_container, parse_dump
from tests.support.fuzz import mutated_docs, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/container/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORDS = st.lists(st.integers(0, 0xFFFF), max_size=16)
BITS = st.lists(st.booleans(), max_size=16)


@FUZZ
@given(WORDS, WORDS, BITS, BITS)
def test_random_points(inputs: list[int], holdings: list[int], coils: list[bool],
                       discretes: list[bool]) -> None:  # fmt: skip
    only_device_errors(lambda: parse_container(inputs, holdings, coils, discretes))


@FUZZ
@given(st.lists(st.integers(0, 0xFFFF), min_size=14, max_size=14))
def test_random_full_input_block(inputs: list[int]) -> None:
    only_device_errors(lambda: parse_container(inputs, [350, 650], [True], [False] * 12))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_docs))
def test_mutated_dumps(doc: Any) -> None:
    only_device_errors(lambda: parse_dump(doc))
