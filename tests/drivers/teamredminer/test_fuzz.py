"""Hypothesis: whatever a sick TeamRedMiner sends, decoding and parsing return a snapshot or
raise a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from hashfleet.drivers.common.cgminer import decode_reply
from hashfleet.drivers.teamredminer.parse import parse
from hashfleet.model.snapshot import Snapshot
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/teamredminer/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


def decode_and_parse(raw: bytes) -> Snapshot:
    doc: Any = decode_reply(raw)  # what the driver's client does with the bytes
    return parse(doc.get("summary"), doc.get("devs"), doc.get("pools"), doc.get("version"))


@settings(max_examples=150, deadline=None)
@given(mutated_json_bytes(DOCS[0]) | mutated_json_bytes(DOCS[1]))
def test_parser_survives_anything(raw: bytes) -> None:
    out = only_device_errors(lambda: decode_and_parse(raw))
    assert out is None or isinstance(out, Snapshot)
