"""The global site config and per-rack settings entries: defaults and checks.

Pure functions: nothing here reads or writes the store. ``apply_global_patch`` turns the
current config and a setGlobalConfig body into the new config (or raises
``ERR_CONFIG_INVALID``); ``check_entries`` and ``merge_entries`` do the same for
saveWrkSettings (``ERR_ENTRIES_INVALID``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from hashfleet.core.errors import BadRequest
from hashfleet.server.query.matcher import compile_query
from hashfleet.wire.codec import json_dumps

CONFIG_INVALID = "ERR_CONFIG_INVALID"
ENTRIES_INVALID = "ERR_ENTRIES_INVALID"

# Numbers of the config are stored in JSON and encoded by msgspec, which only takes 64-bit
# integers; 10^18 is far above any site (the seed's example is 7·10^11 MH/s).
MAX_NUMBER = 10**18
MAX_HOLD_MINUTES = 24 * 60
MAX_QUERY_BYTES = 16 * 1024

# saveWrkSettings: one call, and what a rack may hold in all.
MAX_ENTRIES = 100
MAX_ENTRIES_BYTES = 64 * 1024
MAX_SETTINGS_KEYS = 1000
MAX_SETTINGS_BYTES = 256 * 1024
MAX_KEY_CHARS = 256
MAX_DEPTH = 32
_INT_MIN, _INT_MAX = -(2**63), 2**63  # what msgspec encodes and PostgreSQL's JSONB keeps

AUTOSLEEP_DEFAULTS: dict[str, Any] = {
    "maxSitePowerW": None,
    "resumeBelowW": None,
    "holdMinutes": 5,
    "query": {},
}
GLOBAL_DEFAULTS: dict[str, Any] = {
    "nominalSiteHashrate_MHS": 0,
    "siteCapacityW": 0,
    "isAutoSleepAllowed": False,
    "autoSleep": AUTOSLEEP_DEFAULTS,
}


def default_global_config() -> dict[str, Any]:
    """A fresh copy of the defaults (callers may change it)."""
    return copy.deepcopy(GLOBAL_DEFAULTS)


def normalize_global_config(stored: Any) -> dict[str, Any]:
    """A stored config laid over the defaults; unknown or ill-typed stored keys are dropped.

    What was stored passed the checks when it was written, but a config written by an
    older version must not break start-up: anything that does not fit falls back.
    """
    out = default_global_config()
    if not isinstance(stored, dict):
        return out
    for key, value in stored.items():
        if key not in out:
            continue
        try:
            out = apply_global_patch(out, {key: value})
        except BadRequest:
            continue
    return out


def apply_global_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The config after a setGlobalConfig body: only known keys, each checked.

    ``autoSleep`` is merged key by key (null resets it to its defaults). The result must
    be consistent: ``resumeBelowW`` below ``maxSitePowerW`` when both are set.
    """
    out = copy.deepcopy(current)
    for key, value in patch.items():
        if key not in GLOBAL_DEFAULTS:
            known = ", ".join(GLOBAL_DEFAULTS)
            raise BadRequest(f"unknown config key {key!r} (known: {known})", code=CONFIG_INVALID)
        if key == "isAutoSleepAllowed":
            if not isinstance(value, bool):
                raise BadRequest("isAutoSleepAllowed must be true or false", code=CONFIG_INVALID)
            out[key] = value
        elif key == "autoSleep":
            out[key] = _merge_autosleep(out[key], value)
        else:
            out[key] = _number(value, key)
    auto = out["autoSleep"]
    high, low = auto["maxSitePowerW"], auto["resumeBelowW"]
    if high is not None and low is not None and low >= high:
        raise BadRequest(
            "autoSleep.resumeBelowW must be below autoSleep.maxSitePowerW", code=CONFIG_INVALID
        )
    return out


def _merge_autosleep(current: dict[str, Any], value: Any) -> dict[str, Any]:
    if value is None:
        return copy.deepcopy(AUTOSLEEP_DEFAULTS)
    if not isinstance(value, dict):
        raise BadRequest("autoSleep must be an object or null", code=CONFIG_INVALID)
    out = dict(current)
    for key, item in value.items():
        name = f"autoSleep.{key}"
        if key in ("maxSitePowerW", "resumeBelowW"):
            out[key] = None if item is None else _number(item, name)
            if key == "maxSitePowerW" and out[key] == 0:
                # Zero would sleep the whole fleet; "no limit" is null.
                raise BadRequest(f"{name} must be above 0 (null: no limit)", code=CONFIG_INVALID)
        elif key == "holdMinutes":
            out[key] = _number(item, name, MAX_HOLD_MINUTES)
        elif key == "query":
            out[key] = _query(item, name)
        else:
            known = ", ".join(AUTOSLEEP_DEFAULTS)
            raise BadRequest(f"unknown key {name!r} (known: {known})", code=CONFIG_INVALID)
    return out


def _number(value: Any, name: str, maximum: float = MAX_NUMBER) -> int | float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= maximum
    ):
        raise BadRequest(f"{name} must be a number from 0 to {maximum}", code=CONFIG_INVALID)
    return value


def _query(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must be an object (a listThings query)", code=CONFIG_INVALID)
    check_json(value, CONFIG_INVALID, name)
    if len(json_dumps(value)) > MAX_QUERY_BYTES:
        raise BadRequest(f"{name} is at most {MAX_QUERY_BYTES} bytes", code=CONFIG_INVALID)
    compile_query(value)  # ERR_QUERY_INVALID now, not at the first automation tick
    return value


# -- JSON values --------------------------------------------------------------------------


def check_json(value: Any, code: str, name: str, depth: int = 0) -> None:
    """Refuse what the store cannot keep: NaN/Infinity, NUL and lone surrogates in text,
    integers beyond 64 bits, nesting deeper than ``MAX_DEPTH``.

    Request bodies are parsed by Python's ``json``, which accepts ``NaN``; PostgreSQL's
    JSONB refuses it and NUL characters, and msgspec refuses integers past 64 bits.
    """
    if depth > MAX_DEPTH:
        raise BadRequest(f"{name} is nested deeper than {MAX_DEPTH}", code=code)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, code, name)
            check_json(item, code, name, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, code, name, depth + 1)
    elif isinstance(value, str):
        _check_text(value, code, name)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not _INT_MIN <= value < _INT_MAX:
            raise BadRequest(f"{name} holds an integer beyond 64 bits", code=code)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest(f"{name} holds NaN or Infinity", code=code)
    else:
        raise BadRequest(f"{name} is not JSON", code=code)


def _check_text(text: Any, code: str, name: str) -> None:
    if not isinstance(text, str):
        raise BadRequest(f"{name}: keys must be strings", code=code)
    if "\x00" in text:
        raise BadRequest(f"{name} holds a NUL character", code=code)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(f"{name} holds a lone surrogate", code=code) from exc


def check_entries(entries: Any) -> dict[str, Any]:
    """saveWrkSettings ``entries``: an object of 1…100 string keys to JSON values, ≤ 64 KB."""
    if not isinstance(entries, dict) or not entries:
        raise BadRequest("entries must be a non-empty object", code=ENTRIES_INVALID)
    if len(entries) > MAX_ENTRIES:
        raise BadRequest(f"at most {MAX_ENTRIES} entries per call", code=ENTRIES_INVALID)
    for key in entries:
        if not key or len(key) > MAX_KEY_CHARS:
            raise BadRequest(
                f"entry keys are 1 to {MAX_KEY_CHARS} characters", code=ENTRIES_INVALID
            )
    check_json(entries, ENTRIES_INVALID, "entries")
    if len(json_dumps(entries)) > MAX_ENTRIES_BYTES:
        raise BadRequest(
            f"entries are at most {MAX_ENTRIES_BYTES} bytes of JSON", code=ENTRIES_INVALID
        )
    return entries


def merge_entries(current: dict[str, Any], entries: dict[str, Any]) -> dict[str, Any]:
    """The rack's settings after a save: entries replace keys, a null entry removes its key.

    The whole must stay within ``MAX_SETTINGS_KEYS`` keys and ``MAX_SETTINGS_BYTES``, so
    repeated saves cannot grow one rack's settings without bound.
    """
    out = dict(current)
    for key, value in entries.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    if len(out) > MAX_SETTINGS_KEYS or len(json_dumps(out)) > MAX_SETTINGS_BYTES:
        raise BadRequest(
            f"a rack's settings hold at most {MAX_SETTINGS_KEYS} keys and "
            f"{MAX_SETTINGS_BYTES} bytes of JSON",
            code=ENTRIES_INVALID,
        )
    return out
