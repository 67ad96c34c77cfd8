"""The BOSminer parser, fed mutated, truncated, oversized or re-encoded replies, returns a
snapshot or raises a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.braiins.parse import parse_bosminer
from hashfleet.drivers.common.cgminer import check_status, decode_reply
from tests.support.fuzz import mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/braiins/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _from_bytes(raw: bytes) -> Any:
    data = decode_reply(raw)
    check_status(data, "summary+devs")
    return parse_bosminer(data)


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_docs))
def test_mutated_replies(doc: Any) -> None:
    only_device_errors(lambda: parse_bosminer(doc))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_json_bytes))
def test_broken_bytes(raw: bytes) -> None:
    only_device_errors(lambda: _from_bytes(raw))
