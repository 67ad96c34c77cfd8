"""Every Avalon parser, fed what a sick or hostile device sends, returns a snapshot or raises a
DeviceError: mutated and re-encoded JSON, broken text replies, mangled ``MM ID0`` strings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.avalon.parse import decode_json, decode_text, parse_joined, parse_mm
from hashfleet.drivers.common.cgminer import check_status
from tests.support.fuzz import broken_bytes, mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/avalon/fixtures"
JSON_DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("a*.json"))]
TEXTS: dict[str, str] = json.loads((FIXTURES / "nano3_fw24052401_softoff_text.json").read_text())
MM = JSON_DOCS[0]["estats"][0]["STATS"][0]["MM ID0"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _json_path(raw: bytes) -> Any:
    data = decode_json(raw)
    check_status(data, "version+summary+estats+pools")
    return parse_joined(data)


@FUZZ
@given(st.sampled_from(JSON_DOCS).flatmap(mutated_docs))
def test_mutated_json_replies(doc: Any) -> None:
    only_device_errors(lambda: parse_joined(doc))


@FUZZ
@given(st.sampled_from(JSON_DOCS).flatmap(mutated_json_bytes))
def test_broken_json_bytes(raw: bytes) -> None:
    only_device_errors(lambda: _json_path(raw))


@FUZZ
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_broken_text_replies(command: str, data: st.DataObject) -> None:
    raw = data.draw(broken_bytes(TEXTS[command].encode()))
    replies = {cmd: text.encode() for cmd, text in TEXTS.items()}
    replies[command] = raw

    def parse() -> Any:
        return parse_joined({cmd: [decode_text(r)] for cmd, r in replies.items()})

    only_device_errors(parse)


@FUZZ
@given(st.data())
def test_mangled_mm_strings(data: st.DataObject) -> None:
    doc = json.loads(json.dumps(JSON_DOCS[0]))
    cut = data.draw(st.integers(0, len(MM)))
    junk = data.draw(st.text(alphabet="[] 0123456789.-abcXYZ_%:,'{}", max_size=60))
    doc["estats"][0]["STATS"][0]["MM ID0"] = MM[:cut] + junk + MM[cut:]
    only_device_errors(lambda: parse_joined(doc))
    assert isinstance(parse_mm(junk), dict)
