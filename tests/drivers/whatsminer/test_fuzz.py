"""Every Whatsminer parser, fed what a sick or hostile device sends, returns a snapshot or
raises a DeviceError: mutated JSON documents and broken reply bytes, API 2.x and API 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.whatsminer.client import check_bare, check_v3
from hashfleet.drivers.whatsminer.parse import decode_json, parse_v2, parse_v3
from tests.support.fuzz import broken_bytes, mutated_docs, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/whatsminer/fixtures"
# The API 2.x documents (joined + bare replies); the API 3 and raw-quirk fixtures differ.
V2_DOCS = [
    d for p in sorted(FIXTURES.glob("m*.json")) if "joined" in (d := json.loads(p.read_text()))
]
V3_DOC = json.loads((FIXTURES / "m60_fw20241202_api3.json").read_text())
QUIRKS = json.loads((FIXTURES / "m30splus_fw20210322_api204_quirks.json").read_text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _v2(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return parse_v2(doc, {})
    return parse_v2(doc.get("joined"), doc.get("bare"))


def _v3(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return parse_v3(doc, doc)
    return parse_v3(doc.get("device"), doc.get("status"))


@FUZZ
@given(st.sampled_from(V2_DOCS).flatmap(mutated_docs))
def test_mutated_v2_documents(doc: Any) -> None:
    only_device_errors(lambda: _v2(doc))


@FUZZ
@given(mutated_docs(V3_DOC))
def test_mutated_v3_documents(doc: Any) -> None:
    only_device_errors(lambda: _v3(doc))


@FUZZ
@given(st.sampled_from(["summary", "edevs", "pools", "devdetails"]), st.data())
def test_broken_joined_bytes(part: str, data: st.DataObject) -> None:
    doc = V2_DOCS[0]
    raw = data.draw(broken_bytes(json.dumps(doc["joined"]).encode()))

    def parse() -> Any:
        return parse_v2(decode_json(raw), doc["bare"])

    only_device_errors(parse)


@FUZZ
@given(st.sampled_from(["get_version", "get_miner_info", "get_error_code", "status"]), st.data())
def test_broken_bare_bytes(name: str, data: st.DataObject) -> None:
    doc = V2_DOCS[0]
    raw = data.draw(broken_bytes(json.dumps(doc["bare"][name]).encode()))

    def parse() -> Any:
        bare = dict(doc["bare"], **{name: check_bare(decode_json(raw), name)})
        return parse_v2(doc["joined"], bare)

    only_device_errors(parse)


@FUZZ
@given(st.data())
def test_broken_quirky_error_code(data: st.DataObject) -> None:
    raw = data.draw(broken_bytes(QUIRKS["raw"]["get_error_code"].encode()))
    joined = decode_json(QUIRKS["raw"]["joined"].encode())

    def parse() -> Any:
        return parse_v2(joined, dict(QUIRKS["bare"], get_error_code=decode_json(raw)))

    only_device_errors(parse)


@FUZZ
@given(st.data())
def test_broken_v3_bytes(data: st.DataObject) -> None:
    raw = data.draw(broken_bytes(json.dumps(V3_DOC["status"]).encode()))

    def parse() -> Any:
        return parse_v3(V3_DOC["device"], check_v3(decode_json(raw), "get.miner.status"))

    only_device_errors(parse)
