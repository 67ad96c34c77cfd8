"""Hypothesis: whatever a sick SRBMiner sends, the parser returns a snapshot or raises a
DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import given, settings

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.srbminer.parse import parse
from hashfleet.model.snapshot import Snapshot
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/srbminer/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


def decode_and_parse(raw: bytes) -> Snapshot:
    try:
        doc: Any = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # As HttpJsonClient does: invalid UTF-8 inside a string makes msgspec raise
        # UnicodeDecodeError rather than DecodeError.
        raise DeviceReplyInvalid(str(exc)) from exc
    return parse(doc)


@settings(max_examples=150, deadline=None)
@given(mutated_json_bytes(DOCS[0]) | mutated_json_bytes(DOCS[1]))
def test_parser_survives_anything(raw: bytes) -> None:
    out = only_device_errors(lambda: decode_and_parse(raw))
    assert out is None or isinstance(out, Snapshot)
