"""Mutated, truncated, oversized and random pool API replies: only snapshots or DeviceErrors."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.pool_account.parse import parse_braiins, parse_ocean
from tests.support.fuzz import mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/pool_account/fixtures"
OCEAN = json.loads((FIXTURES / "ocean_v1.json").read_text())
BRAIINS = json.loads((FIXTURES / "braiins_v1.json").read_text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _decode(raw: bytes) -> object:
    """What HttpJsonClient does with a body."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DeviceReplyInvalid(str(exc)) from exc


@FUZZ
@given(mutated_json_bytes(OCEAN))
def test_ocean_survives_broken_replies(raw: bytes) -> None:
    def run() -> object:
        doc = _decode(raw)
        if not isinstance(doc, dict):
            doc = {}
        return parse_ocean(doc.get("statsnap"), doc.get("user_hashrate"), doc.get("earnpay"), "a")

    only_device_errors(run)


@FUZZ
@given(mutated_json_bytes(BRAIINS))
def test_braiins_survives_broken_replies(raw: bytes) -> None:
    def run() -> object:
        doc = _decode(raw)
        if not isinstance(doc, dict):
            doc = {}
        return parse_braiins(doc.get("profile"), doc.get("workers"), "a")

    only_device_errors(run)
