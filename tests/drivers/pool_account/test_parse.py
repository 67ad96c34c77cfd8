"""Pool stats API fixtures → snapshots, per flavour and quirk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.pool_account.parse import parse_braiins, parse_ocean

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/pool_account/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_ocean() -> None:
    d = load("ocean_v1.json")
    snap = parse_ocean(d["statsnap"], d["user_hashrate"], d["earnpay"], "x")
    pa = snap.stats.pool_account
    assert pa is not None and snap.stats.hashrate is None
    assert pa.pool == "ocean" and pa.account == "bc1qexampleaddress0fleet"
    assert pa.hashrate == float(d["statsnap"]["result"]["hashrate_300s"])
    assert pa.hashrate_24h == float(d["user_hashrate"]["result"]["hashrate_86400"])
    assert (pa.workers_online, pa.workers_offline) == (6, 0)
    assert pa.balance == float(d["statsnap"]["result"]["unpaid"]) and pa.currency == "BTC"
    assert pa.earnings_24h is not None and pa.earnings_24h > 0
    assert snap.config.make == "OCEAN"


def test_ocean_without_workers_or_earnpay() -> None:
    d = load("ocean_no_workers.json")
    pa = parse_ocean(d["statsnap"], d["user_hashrate"], None, "x").stats.pool_account
    assert pa is not None and pa.workers_online == 6 and pa.workers_offline is None
    assert pa.earnings_24h is None and pa.earnings_total is not None


def test_braiins() -> None:
    d = load("braiins_v1.json")
    pa = parse_braiins(d["profile"], d["workers"], "x").stats.pool_account
    assert pa is not None and pa.pool == "braiins" and pa.account == "fleetops"
    assert pa.hashrate == pytest.approx(d["profile"]["btc"]["hash_rate_5m"] * 1e9)
    assert (pa.workers_online, pa.workers_offline) == (11, 1)
    assert pa.balance is not None and pa.earnings_total is not None


def test_braiins_slush_quirk_ths_strings() -> None:
    d = load("braiins_slush_ths_strings.json")
    pa = parse_braiins(d["profile"], None, "x").stats.pool_account
    assert pa is not None and pa.hashrate == pytest.approx(
        float(d["profile"]["btc"]["hash_rate_5m"]) * 1e12
    )
    assert (pa.workers_online, pa.workers_offline) == (11, 1)


@pytest.mark.parametrize("bad", [None, [], {"result": 3}, {"result": {"unpaid": "lots"}}])
def test_ocean_bad_shapes(bad: Any) -> None:
    d = load("ocean_v1.json")
    with pytest.raises(DeviceReplyInvalid):
        parse_ocean(bad, d["user_hashrate"], None, "x")


def test_braiins_unknown_unit() -> None:
    d = load("braiins_v1.json")
    d["profile"]["btc"]["hash_rate_unit"] = "furlongs"
    with pytest.raises(DeviceReplyInvalid):
        parse_braiins(d["profile"], None, "x")
