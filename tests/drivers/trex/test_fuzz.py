"""Mutated, truncated, oversized and random T-Rex replies: only snapshots or DeviceErrors."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from hashfleet.drivers.gpu_common import decode
from hashfleet.drivers.trex.parse import parse
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/trex/fixtures"
DUAL = json.loads((FIXTURES / "trex_0.26.8_dual.json").read_text())
OLD = json.loads((FIXTURES / "trex_0.19.14_starting.json").read_text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(mutated_json_bytes(DUAL))
def test_dual_summary_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: parse(decode(raw)))


@FUZZ
@given(mutated_json_bytes(OLD))
def test_old_summary_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: parse(decode(raw)))
