"""Mutated, truncated, oversized and random Chia RPC replies: only snapshots or DeviceErrors."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.chia.parse import parse
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/chia/fixtures"
NEW = json.loads((FIXTURES / "chia_2.1.json").read_text())
LEGACY = json.loads((FIXTURES / "chia_1.2_legacy.json").read_text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
KEYS = ("blockchain", "harvesters", "signage_points", "plots")


def _run(raw: bytes) -> object:
    try:
        doc = msgspec.json.decode(raw)  # what HttpJsonClient does with a body
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DeviceReplyInvalid(str(exc)) from exc
    if not isinstance(doc, dict):
        return parse(blockchain=doc)
    return parse(**{k: doc.get(k) for k in KEYS})


@FUZZ
@given(mutated_json_bytes(NEW))
def test_chia_2_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: _run(raw))


@FUZZ
@given(mutated_json_bytes(LEGACY))
def test_chia_legacy_survives_broken_replies(raw: bytes) -> None:
    only_device_errors(lambda: _run(raw))
