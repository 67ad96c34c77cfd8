"""Mutated, truncated, oversized and random lolMiner replies: only snapshots or DeviceErrors."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from hashfleet.drivers.gpu_common import decode
from hashfleet.drivers.lolminer.parse import parse
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/lolminer/fixtures"
DUAL = json.loads((FIXTURES / "lolminer_1.88_dual.json").read_text())
LEGACY = json.loads((FIXTURES / "lolminer_1.29_legacy.json").read_text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _parse_bytes(raw: bytes) -> object:
    return parse(decode(raw))  # what the driver does with the body


@FUZZ
@given(mutated_json_bytes(DUAL))
def test_current_shape_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: _parse_bytes(raw))


@FUZZ
@given(mutated_json_bytes(LEGACY))
def test_legacy_shape_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: _parse_bytes(raw))
