"""Every web UI parser, fed mutated, truncated, oversized or random replies, returns a value
or raises a DeviceError — never KeyError/TypeError."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashfleet.drivers.antminer.web_parse import (
    check_write,
    conf_update,
    decode_web,
    parse_blink_status,
    parse_miner_conf,
    parse_system_info,
    parse_web_stats,
)
from tests.support.fuzz import mutated_docs, mutated_json_bytes, only_device_errors

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/antminer/fixtures"
VARIANTS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*web*.json"))]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _conf(doc: Any) -> Any:
    conf = parse_miner_conf(doc)
    return conf_update(conf, pools=conf.pools or [("stratum+tcp://a:1", "u", "x")])


PARSERS: dict[str, Callable[[Any], Any]] = {
    "get_system_info": parse_system_info,
    "get_miner_conf": _conf,
    "get_blink_status": parse_blink_status,
    "set_miner_conf": lambda d: check_write(d, "set_miner_conf", ("M000",)),
}
DOCS = [(name, v[name]) for v in VARIANTS for name in PARSERS]


@FUZZ
@given(st.sampled_from(DOCS).flatmap(lambda nd: st.tuples(st.just(nd[0]), mutated_docs(nd[1]))))
def test_mutated_docs(case: tuple[str, Any]) -> None:
    name, doc = case
    only_device_errors(lambda: PARSERS[name](doc))


@FUZZ
@given(
    st.sampled_from(DOCS).flatmap(lambda nd: st.tuples(st.just(nd[0]), mutated_json_bytes(nd[1])))
)
def test_broken_bytes(case: tuple[str, bytes]) -> None:
    name, raw = case
    only_device_errors(lambda: PARSERS[name](decode_web(raw)))


@FUZZ
@given(st.sampled_from(list(PARSERS)), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                              max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_random_json(name: str, doc: Any) -> None:
    only_device_errors(lambda: PARSERS[name](doc))


@FUZZ
@given(st.sampled_from(["summary", "stats", "pools"]), st.booleans(), st.data())
def test_web_stats_on_broken_parts(part: str, as_bytes: bool, data: st.DataObject) -> None:
    variant = VARIANTS[data.draw(st.integers(0, len(VARIANTS) - 1))]
    docs = {k: variant[k] for k in ("summary", "stats", "pools")}
    if as_bytes:
        raw = data.draw(mutated_json_bytes(docs[part]))
        only_device_errors(lambda: parse_web_stats(**{**docs, part: decode_web(raw)}))
    else:
        docs[part] = data.draw(mutated_docs(docs[part]))
        only_device_errors(lambda: parse_web_stats(**docs))
