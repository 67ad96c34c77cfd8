"""Alert rules: each check on canned snapshots, per-type thresholds, config validation."""

from __future__ import annotations

from typing import Any

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.server.alerts.rules import RULES, Ctx, Finding, RuleSet

NOW = 1_700_000_000_000


def thing(thing_type: str = "miner", tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": "m1", "type": thing_type, "tags": [f"t-{thing_type}", *tags]}


def stats(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "online",
        "hashrate": 100e12,
        "hashrate_nominal": 100e12,
        "power_w": 3000,
        "hashboards": [
            {"index": 0, "temp_chip": 70, "temp_board": 60, "ok": True},
            {"index": 1, "temp_chip": 72, "temp_board": 61, "ok": True},
        ],
        "fans": [{"index": 0, "rpm": 5000}, {"index": 1, "rpm": 5100}],
        "pools": [{"url": "stratum+tcp://pool.example:3333", "alive": True, "active": True}],
        "errors": [],
    }
    base.update(over)
    return base


def findings(
    st: dict[str, Any] | None,
    doc: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    err: str | None = None,
) -> dict[str, Finding]:
    """Every finding of the per-snapshot rules for one thing."""
    rules = RuleSet(config)
    doc = doc or thing()
    snap = {"stats": st, "config": {}} if st is not None else None
    out: dict[str, Finding] = {}
    for eff in rules.for_type(doc["type"]):
        if eff.rule.periodic or (eff.rule.needs_snap and snap is None):
            continue
        ctx = Ctx(doc, snap or {}, st or {}, err, NOW, eff.params, rules.pools)
        out.update(eff.rule.evaluate(ctx, eff.severity))
    return out


def test_a_healthy_miner_has_no_findings() -> None:
    assert findings(stats()) == {}


def test_rule_codes_are_unique_and_severities_known() -> None:
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    assert all(r.severity in ("critical", "high", "medium", "low") for r in RULES)


def test_chip_temperature_high_then_critical() -> None:
    hot = stats(hashboards=[{"index": 0, "temp_chip": 88, "temp_board": 60, "ok": True}])
    f = findings(hot)["temp_chip"]
    assert f.severity == "high" and "88" in f.description and f.data["limit"] == 85
    burning = stats(hashboards=[{"index": 0, "temp_chip": 99, "temp_board": 60, "ok": True}])
    assert findings(burning)["temp_chip"].severity == "critical"
    # No chip sensor: temp_max stands in.
    assert findings(stats(hashboards=[], temp_max=90))["temp_chip"].severity == "high"


def test_board_temperature_and_rig_thresholds() -> None:
    warm = stats(hashboards=[{"index": 0, "temp_chip": 70, "temp_board": 80, "ok": True}])
    assert set(findings(warm)) == {"temp_board"}
    gpu = stats(hashboards=[{"index": 0, "kind": "gpu", "temp_chip": 84}])
    assert set(findings(gpu, thing("rig"))) == {"temp_chip"}  # rigs: high at 83
    assert findings(gpu) == {}  # miners: high at 85


def test_hashrate_low_only_for_online_miners() -> None:
    low = stats(hashrate=70e12)
    assert findings(low)["hashrate_low"].description == "hashrate 70% of nominal, below 80%"
    assert "hashrate_low" not in findings(stats(hashrate=70e12, status="sleeping"))
    assert "hashrate_low" not in findings(stats(hashrate=70e12, hashrate_nominal=None))
    assert "hashrate_low" not in findings(
        low, config={"rules": {"miner": {"hashrate_low": {"pct": 60}}}}
    )


def test_fan_stopped_and_dead_board() -> None:
    f = findings(stats(fans=[{"index": 0, "rpm": 5000}, {"index": 1, "rpm": 0}]))
    assert f["fan_stopped"].data == {"fans": [1]}
    assert findings(stats(status="sleeping", fans=[{"index": 0, "rpm": 0}])) == {}
    dead = stats(hashboards=[{"index": 0, "ok": True}, {"index": 2, "ok": False}])
    assert findings(dead)["hashboard_dead"].description == "hashboard 2 not working"


def test_power_over_limit_or_ceiling() -> None:
    assert findings(stats(power_w=3100, power_limit_w=3000)) == {}  # within the 5% tolerance
    assert "power_high" in findings(stats(power_w=3300, power_limit_w=3000))
    cfg = {"rules": {"miner": {"power_high": {"max_w": 2500}}}}
    assert findings(stats(), config=cfg)["power_high"].data == {"value": 3000, "limit": 2500}
    meter = {"meter": {"power_w": 600_000}}
    doc = thing("powermeter")
    assert findings(meter, doc) == {}  # no ceiling configured
    cfg = {"rules": {"powermeter": {"power_high": {"max_w": 500_000, "severity": "critical"}}}}
    assert findings(meter, doc, cfg)["power_high"].severity == "critical"


def test_each_device_error_is_its_own_alert() -> None:
    f = findings(stats(errors=["ERR_HASHBOARD_DEAD", "ERR_POOL_DOWN"]))
    assert set(f) == {"device:ERR_HASHBOARD_DEAD", "device:ERR_POOL_DOWN"}
    assert f["device:ERR_POOL_DOWN"].severity == "medium"
    cfg = {"rules": {"*": {"device": {"ignore": ["ERR_POOL_DOWN"]}}}}
    assert set(findings(stats(errors=["ERR_POOL_DOWN"]), config=cfg)) == set()
    long = "E" * 200
    assert set(findings(stats(errors=[long]))) == {("device:" + long)[:64]}


def test_pools_differing_from_the_configured_ones() -> None:
    cfg = {"pools": [{"tag": "site-a", "urls": ["stratum+tcp://POOL.example:3333/"]}]}
    on_site = thing(tags=("site-a",))
    assert findings(stats(), on_site, cfg) == {}  # URLs compare case- and slash-insensitively
    assert findings(stats(), thing(), cfg) == {}  # not tagged: nothing expected
    rogue = stats(pools=[{"url": "stratum+tcp://evil.example:1"}])
    f = findings(rogue, on_site, cfg)["pool_mismatch"]
    assert f.data["unexpected"] == ["stratum+tcp://evil.example:1"]


def test_container_supply_temperature_pressure_and_alarms() -> None:
    doc = thing("container")
    ok = {"cooling": {"supply_temp_c": 35, "pressure_bar": 1.5}}
    assert findings(ok, doc) == {}
    bad = {"cooling": {"supply_temp_c": 60, "pressure_bar": 0.1, "alarms": ["LEAK"]}}
    f = findings(bad, doc)
    assert set(f) == {"supply_temp", "pressure", "device:LEAK"}
    assert f["supply_temp"].severity == "critical"


def test_poll_error_without_snapshot() -> None:
    f = findings(None, err="ERR_DEVICE_OFFLINE")
    assert set(f) == {"poll_error"}
    assert f["poll_error"].description == "device unreachable (ERR_DEVICE_OFFLINE)"


def test_config_disables_and_overrides_severity() -> None:
    hot = stats(fans=[{"index": 0, "rpm": 0}])
    cfg = {"rules": {"miner": {"fan_stopped": {"enabled": False}}}}
    assert findings(hot, config=cfg) == {}
    cfg = {"rules": {"*": {"fan_stopped": {"severity": "low"}}}}
    assert findings(hot, config=cfg)["fan_stopped"].severity == "low"


@pytest.mark.parametrize(
    "config",
    [
        {"nope": 1},
        {"missing_after": 0},
        {"missing_after": "3"},
        {"pools": {"tag": "x"}},
        {"pools": [{"tag": "x", "urls": "stratum://a"}]},
        {"rules": []},
        {"rules": {"minr": {}}},
        {"rules": {"miner": {"no_such_rule": {}}}},
        {"rules": {"powermeter": {"temp_chip": {"high": 1}}}},
        {"rules": {"miner": {"temp_chip": {"hot": 1}}}},
        {"rules": {"miner": {"temp_chip": {"high": "90"}}}},
        {"rules": {"miner": {"temp_chip": {"severity": "urgent"}}}},
        {"rules": {"miner": {"temp_chip": {"enabled": "no"}}}},
        {"rules": {"*": {"snapshot_missing": {"window_ms": 5}}}},
        {"rules": {"*": {"device": {"ignore": "x"}}}},
    ],
)
def test_bad_config_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as info:
        RuleSet(config)
    assert info.value.code == "ERR_CONFIG_INVALID"


def test_rule_of_maps_fanned_out_codes() -> None:
    rules = RuleSet()
    assert rules.rule_of("device:ERR_X") is rules.by_code["device"]
    assert rules.rule_of("temp_chip:x") is None
    assert rules.rule_of("gone") is None
