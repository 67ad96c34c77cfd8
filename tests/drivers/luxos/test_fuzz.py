"""The LUXminer parser, fed mutated, truncated, oversized or re-encoded replies, returns a
snapshot or raises a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.common.cgminer import check_status, decode_reply
from hashfleet.drivers.luxos.parse import parse_luxminer
from tests.support.fuzz import mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/luxos/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _from_bytes(raw: bytes) -> Any:
    data = decode_reply(raw)
    check_status(data, "summary+stats")
    return parse_luxminer(data)


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_docs))
def test_mutated_replies(doc: Any) -> None:
    only_device_errors(lambda: parse_luxminer(doc))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_json_bytes))
def test_broken_bytes(raw: bytes) -> None:
    only_device_errors(lambda: _from_bytes(raw))
