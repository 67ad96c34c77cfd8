"""The IceRiver parser, fed what a sick or hostile panel sends, returns a snapshot or raises a
DeviceError: mutated documents, broken and re-encoded bodies, random bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.iceriver.client import json_object
from hashfleet.drivers.iceriver.parse import parse_userpanel
from tests.support.fuzz import mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/iceriver/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_docs))
def test_mutated_panels(doc: Any) -> None:
    only_device_errors(lambda: parse_userpanel(doc))


@FUZZ
@given(st.sampled_from(DOCS).flatmap(mutated_json_bytes))
def test_broken_panel_bodies(raw: bytes) -> None:
    only_device_errors(lambda: parse_userpanel(json_object(raw, "/user/userpanel")))


@FUZZ
@given(st.sampled_from(DOCS), st.sampled_from(["rtpow", "runtime", "unit", "mac", "fans"]),
       st.text(max_size=30))  # fmt: skip
def test_odd_strings_in_panel_fields(doc: dict[str, Any], key: str, value: str) -> None:
    data = dict(doc["data"])
    data[key] = value
    only_device_errors(lambda: parse_userpanel({"code": 0, "data": data}))
