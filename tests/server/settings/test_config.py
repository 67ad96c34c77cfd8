"""Global config checks and settings entries (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.server.settings.config import (
    MAX_ENTRIES,
    apply_global_patch,
    check_entries,
    default_global_config,
    merge_entries,
    normalize_global_config,
)
from hashfleet.server.settings.service import wrk_settings_key


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


DEEP = _nest(40)


def code_of(fn: Any, *args: Any) -> str:
    with pytest.raises(BadRequest) as info:
        fn(*args)
    return info.value.code


def test_defaults() -> None:
    assert default_global_config() == {
        "nominalSiteHashrate_MHS": 0,
        "siteCapacityW": 0,
        "isAutoSleepAllowed": False,
        "autoSleep": {"maxSitePowerW": None, "resumeBelowW": None, "holdMinutes": 5, "query": {}},
    }


def test_patch_merges_and_checks() -> None:
    cfg = apply_global_patch(
        default_global_config(),
        {"nominalSiteHashrate_MHS": 709032000000, "autoSleep": {"maxSitePowerW": 5000.5}},
    )
    assert cfg["nominalSiteHashrate_MHS"] == 709032000000
    assert cfg["autoSleep"] == {
        "maxSitePowerW": 5000.5, "resumeBelowW": None, "holdMinutes": 5, "query": {}
    }  # fmt: skip
    cfg = apply_global_patch(cfg, {"autoSleep": {"resumeBelowW": 4000, "query": {"type": "miner"}}})
    assert cfg["autoSleep"]["maxSitePowerW"] == 5000.5 and cfg["autoSleep"]["resumeBelowW"] == 4000
    assert apply_global_patch(cfg, {"autoSleep": None})["autoSleep"]["maxSitePowerW"] is None


@pytest.mark.parametrize(
    "patch",
    [
        {"unknown": 1},
        {"isAutoSleepAllowed": 1},
        {"isAutoSleepAllowed": None},
        {"siteCapacityW": -1},
        {"siteCapacityW": "5"},
        {"siteCapacityW": True},
        {"siteCapacityW": float("nan")},
        {"siteCapacityW": 10**19},
        {"autoSleep": []},
        {"autoSleep": {"maxSitePowerW": 0}},
        {"autoSleep": {"holdMinutes": 100_000}},
        {"autoSleep": {"query": "rack-a"}},
        {"autoSleep": {"other": 1}},
        {"autoSleep": {"maxSitePowerW": 1000, "resumeBelowW": 1000}},
        {"autoSleep": {"query": {"a": "\x00"}}},
    ],
)
def test_bad_patches(patch: dict[str, Any]) -> None:
    assert code_of(apply_global_patch, default_global_config(), patch) == "ERR_CONFIG_INVALID"


def test_bad_query_is_a_query_error() -> None:
    patch = {"autoSleep": {"query": {"$where": "1"}}}
    assert code_of(apply_global_patch, default_global_config(), patch) == "ERR_QUERY_INVALID"


def test_normalize_drops_what_does_not_fit() -> None:
    stored = {"siteCapacityW": "x", "isAutoSleepAllowed": True, "gone": 1, "autoSleep": {}}
    cfg = normalize_global_config(stored)
    assert cfg["siteCapacityW"] == 0 and cfg["isAutoSleepAllowed"] is True and "gone" not in cfg
    assert normalize_global_config([1]) == default_global_config()


@pytest.mark.parametrize(
    "entries",
    [
        None,
        {},
        [],
        {"": 1},
        {"k" * 300: 1},
        {f"k{i}": i for i in range(MAX_ENTRIES + 1)},
        {"big": "x" * (64 * 1024)},
        {"nan": float("inf")},
        {"int": 2**64},
        {"nul": "a\x00b"},
        {"surrogate": "\ud800"},
        {"deep": DEEP},
    ],
)
def test_bad_entries(entries: Any) -> None:
    assert code_of(check_entries, entries) == "ERR_ENTRIES_INVALID"


def test_entries_merge_and_null_removes() -> None:
    entries = check_entries({"a": 1, "b": {"c": [1, 2.5, None, "x"]}, "d": None})
    assert merge_entries({"d": 4, "e": 5}, entries) == {
        "a": 1,
        "b": {"c": [1, 2.5, None, "x"]},
        "e": 5,
    }
    many = {f"k{i}": i for i in range(1000)}
    assert code_of(merge_entries, many, {"one-more": 1}) == "ERR_ENTRIES_INVALID"


def test_settings_keys_fit_the_kv_column() -> None:
    assert wrk_settings_key("rack-a") == "wrkSettings:rack-a"
    long = wrk_settings_key("r" * 128)
    assert len(long) <= 128 and long.startswith("wrkSettings#")
