"""The VNish parser, fed mutated or broken cgminer and web replies, returns a snapshot or
raises a DeviceError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.common.cgminer import check_status, decode_reply
from hashfleet.drivers.vnish.parse import active_preset, parse_presets, parse_vnish
from tests.support.fuzz import mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/vnish/fixtures"
DOCS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(DOCS), st.data())
def test_mutated_cgminer_replies(doc: Any, data: st.DataObject) -> None:
    rpc = data.draw(mutated_docs(doc["rpc"]))
    only_device_errors(lambda: parse_vnish(rpc, doc["web"]))


@FUZZ
@given(st.sampled_from(DOCS), st.data())
def test_broken_cgminer_bytes(doc: Any, data: st.DataObject) -> None:
    raw = data.draw(mutated_json_bytes(doc["rpc"]))

    def parse() -> Any:
        rpc = decode_reply(raw)
        check_status(rpc, "summary+stats")
        return parse_vnish(rpc, doc["web"])

    only_device_errors(parse)


@FUZZ
@given(st.sampled_from(DOCS), st.data())
def test_mutated_web_summary(doc: Any, data: st.DataObject) -> None:
    web = data.draw(mutated_docs(doc["web"]))
    only_device_errors(lambda: parse_vnish(doc["rpc"], web))


PRESETS = {"presets": [{"name": "2070", "pretty": "2070 watt ~ 98 TH", "status": "tuned",
                        "modded_psu_required": False},
                       {"name": "disabled", "pretty": "Disabled", "status": "untuned",
                        "modded_psu_required": False}]}  # fmt: skip


@FUZZ
@given(st.data())
def test_mutated_presets_and_settings(data: st.DataObject) -> None:
    presets = data.draw(mutated_docs(PRESETS))
    settings = data.draw(mutated_docs({"miner": {"overclock": {"preset": "2070"}}}))
    only_device_errors(lambda: parse_presets(presets))
    only_device_errors(lambda: active_preset(settings))
