"""The sensor decoder, fed random and short registers and mutated dumps, returns a snapshot
or raises a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.modbus_common import register_dump
from hashfleet.drivers.modbus_sensor.parse import parse_sensor
from tests.support.fuzz import mutated_docs, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/modbus_sensor/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(st.integers(0, 0xFFFF), max_size=4), st.sampled_from([0, 1, 2]))
def test_random_and_short_registers(words: list[int], start: int) -> None:
    only_device_errors(lambda: parse_sensor({start: words}))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_docs))
def test_mutated_dumps(doc: Any) -> None:
    only_device_errors(lambda: parse_sensor(register_dump(doc)))
