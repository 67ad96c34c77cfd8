"""The cgminer reply path of the Antminer driver never crashes on what a sick device sends:
decode_reply + check_status + parse_joined return a snapshot or raise a DeviceError."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.antminer.driver import JOINED
from hashfleet.drivers.antminer.parse import parse_joined
from hashfleet.drivers.common.cgminer import check_status, decode_reply
from tests.support.fuzz import ANY_JSON, broken_bytes, mutated_docs, only_device_errors

FIXTURES = resources.files("hashfleet.drivers.antminer") / "fixtures"
NAMES = [
    "s19jpro_bmminer_summary+stats+pools+version.json",
    "s19pro_bmminer_quirks_summary+stats+pools+version.json",
    "s21_bmminer_dead_board_summary+stats+pools+version.json",
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def whole_path(data: bytes) -> Any:
    reply = decode_reply(data)
    check_status(reply, JOINED)
    return parse_joined(reply)


@pytest.mark.parametrize("name", NAMES)
def test_fixtures_parse(name: str) -> None:
    assert whole_path(raw(name)).stats.hashrate


@FUZZ
@given(st.sampled_from(NAMES).flatmap(lambda n: broken_bytes(raw(n))))
def test_broken_bytes(data: bytes) -> None:
    only_device_errors(lambda: whole_path(data))


@FUZZ
@given(st.sampled_from(NAMES[:1]).flatmap(lambda n: mutated_docs(json.loads(raw(n)))))
def test_mutated_replies(doc: Any) -> None:
    only_device_errors(lambda: whole_path(json.dumps(doc, allow_nan=True).encode()))


@FUZZ
@given(ANY_JSON)
def test_random_json(doc: Any) -> None:
    only_device_errors(lambda: whole_path(json.dumps(doc, allow_nan=True).encode()))
