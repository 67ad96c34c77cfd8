"""Mutated, truncated, oversized and random GMiner replies: only snapshots or DeviceErrors."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from hashfleet.drivers.gminer.parse import parse
from hashfleet.drivers.gpu_common import decode
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/gminer/fixtures"
DUAL = json.loads((FIXTURES / "gminer_3.44_dual.json").read_text())
OLD = json.loads((FIXTURES / "gminer_2.75_strings.json").read_text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _parse_bytes(raw: bytes) -> object:
    return parse(decode(raw))  # what the driver does with the body


@FUZZ
@given(mutated_json_bytes(DUAL))
def test_dual_stat_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: _parse_bytes(raw))


@FUZZ
@given(mutated_json_bytes(OLD))
def test_old_stat_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: _parse_bytes(raw))
