"""btminer replies → the canonical :class:`Snapshot`.

API 2.x (:func:`parse_v2`): the joined ``summary+edevs+pools+devdetails`` reply (cgminer
shape, hash rates in MH/s) plus the bare ``get_version``, ``get_miner_info``,
``get_error_code`` and ``status`` objects (``{"STATUS": "S", "Code": 131, "Msg": {...}}``).
API 3 (:func:`parse_v3`): ``get.device.info`` and ``get.miner.status`` (summary, edevs,
pools; hash rates in TH/s). Error codes follow MicroBT's table: 350-352 slot temperature
protecting, 360 board too hot, 530-532 slot not found, 540-542 chip id errors, 2010 pools
disabled, 2020-2022 pool connection failed. A value of the wrong type makes the reply
invalid (``DeviceReplyInvalid``) rather than silently wrong.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.common.cgminer import decode_reply
from hashfleet.model.snapshot import (
    STATUS_ONLINE,
    STATUS_SLEEPING,
    Fan,
    Hashboard,
    MinerConfig,
    MinerStats,
    Pool,
    Snapshot,
)

MAKE = "WhatsMiner"
COIN = "BTC"
ALGORITHM = "sha256d"
OVERHEAT_C = 95.0
ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"
_OVERHEAT_CODES = frozenset({350, 351, 352, 360, 600})
_DEAD_CODES = frozenset({530, 531, 532, 540, 541, 542})
_POOL_CODES = frozenset({2010, 2020, 2021, 2022})
# API 2.0.4 firmware writes error_code as a list of "key":"value" pairs (not JSON).
_ERROR_CODE_QUIRK = re.compile(rb'"error_code":\[("[^\]]*")\]')


def decode_json(raw: bytes) -> dict[str, Any]:
    """A reply's bytes → JSON object (NUL terminators, btminer quirks repaired)."""
    fixed = _ERROR_CODE_QUIRK.sub(rb'"error_code":{\1}', raw)
    try:
        return decode_reply(fixed)
    except UnicodeDecodeError as exc:
        raise DeviceReplyInvalid(f"reply is not UTF-8: {exc}") from exc
    except RecursionError as exc:
        raise DeviceReplyInvalid("reply nests too deeply") from exc


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise DeviceReplyInvalid(f"{what}: boolean where a number belongs")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip().strip("'"))
        except ValueError:
            raise DeviceReplyInvalid(f"{what}: {value[:40]!r} is not a number") from None
    else:
        raise DeviceReplyInvalid(f"{what}: {type(value).__name__} where a number belongs")
    if not math.isfinite(out):
        raise DeviceReplyInvalid(f"{what}: {out} is not finite")
    return out


def _opt(row: dict[str, Any], key: str, scale: float = 1.0) -> float | None:
    value = row.get(key)
    return None if value is None else _num(value, key) * scale


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip("'")
    raise DeviceReplyInvalid(f"{type(value).__name__} where text belongs")


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DeviceReplyInvalid(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _rows(value: Any, what: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise DeviceReplyInvalid(f"{what}: expected a list of objects")
    return value


def _part(joined: dict[str, Any], name: str, section: str) -> list[dict[str, Any]]:
    part = joined.get(name)
    if part is None:
        return []
    if not isinstance(part, list) or len(part) != 1:
        raise DeviceReplyInvalid(f"joined reply part {name!r} is not a one-reply list")
    return _rows(_obj(part[0], name).get(section), f"{name}.{section}")


def _msg(reply: Any, what: str) -> dict[str, Any]:
    if reply is None:
        return {}
    return _obj(_obj(reply, what).get("Msg", {}), f"{what}.Msg")


def error_codes(items: Any) -> list[int]:
    """``[{"350": "time"}, …]``, ``{"350": "time"}`` or ``[350, …]`` → sorted codes."""
    keys: list[Any] = []
    if isinstance(items, dict):
        keys = list(items)
    elif isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                keys.extend(k for k in item if k != "reason")
            else:
                keys.append(item)
    elif items is not None:
        raise DeviceReplyInvalid("error_code: neither a list nor an object")
    return sorted({int(_num(k, "error code")) for k in keys})


def _errors(codes: list[int], boards: list[Hashboard], pools: list[Pool], temp: float | None,
            mining: bool) -> list[str]:  # fmt: skip
    out: list[str] = []
    if (temp is not None and temp > OVERHEAT_C) or any(c in _OVERHEAT_CODES for c in codes):
        out.append(ERR_OVERHEAT)
    dead_board = mining and any(not b.ok for b in boards)
    if dead_board or any(c in _DEAD_CODES for c in codes):
        out.append(ERR_HASHBOARD_DEAD)
    all_dead = bool(pools) and not any(p.alive for p in pools)
    if all_dead or any(c in _POOL_CODES for c in codes):
        out.append(ERR_POOL_DOWN)
    known = _OVERHEAT_CODES | _DEAD_CODES | _POOL_CODES
    out.extend(f"ERR_WHATSMINER_{c}" for c in codes if c not in known)
    return out


def model_name(type_code: Any) -> str | None:
    """``"M30S+_V10"`` → ``"M30S+ V10"`` (the marketing name and the hardware revision)."""
    text = _text(type_code)
    return None if text is None else text.replace("_", " ").replace(".", " ")


def parse_v2(joined: Any, bare: Any) -> Snapshot:
    """API 2.x replies → snapshot. ``bare`` maps ``get_version``, ``get_miner_info``,
    ``get_error_code`` and ``status`` to their replies (``None`` when not read)."""
    joined, bare = _obj(joined, "joined reply"), _obj(bare, "get_* replies")
    summary_rows = _part(joined, "summary", "SUMMARY")
    if not summary_rows:
        raise DeviceReplyInvalid("summary: no SUMMARY row")
    s = summary_rows[0]
    status = _msg(bare.get("status"), "status")
    info = _msg(bare.get("get_miner_info"), "get_miner_info")
    version = _msg(bare.get("get_version"), "get_version")
    sleeping = str(status.get("btmineroff", status.get("mineroff", "false"))).lower() == "true"
    boards: list[Hashboard] = []
    for row in _part(joined, "edevs", "DEVS"):
        index = row.get("ASC", row.get("Slot", len(boards)))
        rate = _opt(row, "MHS 1m", 1e6)
        boards.append(Hashboard(index=int(_num(index, "ASC")), hashrate=rate, kind="board",
                                temp_board=_opt(row, "Temperature"),
                                temp_chip=_opt(row, "Chip Temp Avg"),
                                chips=None if row.get("Effective Chips") is None
                                else int(_num(row["Effective Chips"], "Effective Chips")),
                                clock_core_mhz=_opt(row, "Chip Frequency") or None,
                                ok=sleeping or bool(rate)))  # fmt: skip
    board_max = [t for r in _part(joined, "edevs", "DEVS") if (t := _opt(r, "Chip Temp Max"))]
    temp_max = max(board_max) if board_max else _opt(s, "Chip Temp Max") or _opt(s, "Temperature")
    pools = [Pool(url=_text(r.get("URL")) or "", user=_text(r.get("User")) or "",
                  alive=r.get("Status") == "Alive", active=r.get("Stratum Active") is True,
                  accepted=int(_opt(r, "Accepted") or 0), rejected=int(_opt(r, "Rejected") or 0))
             for r in _part(joined, "pools", "POOLS")]  # fmt: skip
    codes = error_codes(_msg(bare.get("get_error_code"), "get_error_code").get("error_code"))
    count = int(_opt(s, "Error Code Count") or 0)
    listed = (s[f"Error Code {i}"] for i in range(min(count, 64)) if f"Error Code {i}" in s)
    codes = sorted(set(codes) | {int(_num(c, "Error Code")) for c in listed})
    mode = _text(s.get("Power Mode"))
    fans = [Fan(index=i, rpm=int(v)) for i, k in enumerate(("Fan Speed In", "Fan Speed Out"))
            if (v := _opt(s, k)) is not None]  # fmt: skip
    led = _text(info.get("ledstat"))
    devdetails = _part(joined, "devdetails", "DEVDETAILS")
    stats = MinerStats(
        status=STATUS_SLEEPING if sleeping else STATUS_ONLINE,
        hashrate=_opt(s, "MHS 1m", 1e6) if "MHS 1m" in s else _opt(s, "MHS av", 1e6),
        hashrate_nominal=_opt(s, "Factory GHS", 1e9), algorithm=ALGORITHM, coin=COIN,
        power_w=_opt(s, "Power"), power_limit_w=_opt(s, "Power Limit"), temp_max=temp_max,
        uptime_s=None if s.get("Elapsed") is None else int(_num(s["Elapsed"], "Elapsed")),
        hashboards=boards, fans=fans, pools=pools,
        errors=_errors(codes, boards, pools, temp_max, not sleeping),
        work_mode="sleep" if sleeping else (mode.lower() if mode else None),
        led=None if led is None else led != "auto",
    )  # fmt: skip
    config = MinerConfig(
        make=MAKE, model=model_name(devdetails[0].get("Model")) if devdetails else None,
        firmware=_text(version.get("fw_ver")), mac=_text(info.get("mac") or s.get("MAC")),
        hostname=_text(info.get("hostname")), serial=_text(info.get("minersn")),
    )  # fmt: skip
    return Snapshot(stats=stats, config=config)


def parse_v3(device: Any, status: Any) -> Snapshot:
    """API 3 ``get.device.info`` and ``get.miner.status`` (summary,edevs,pools) → snapshot."""
    info = _obj(_obj(device, "get.device.info").get("msg"), "get.device.info msg")
    msg = _obj(_obj(status, "get.miner.status").get("msg"), "get.miner.status msg")
    s = _obj(msg.get("summary"), "summary")
    miner = _obj(info.get("miner", {}), "miner")
    system = _obj(info.get("system", {}), "system")
    network = _obj(info.get("network", {}), "network")
    sleeping = str(miner.get("working", "true")).lower() == "false"
    boards: list[Hashboard] = []
    for row in _rows(msg.get("edevs"), "edevs"):
        rate = _opt(row, "hash-average", 1e12)
        chips = row.get("effective-chips")
        boards.append(Hashboard(index=int(_num(row.get("id", len(boards)), "id")), kind="board",
                                hashrate=rate, temp_board=_opt(row, "board-temperature"),
                                temp_chip=_opt(row, "chip-temp-avg"),
                                chips=None if chips is None else int(_num(chips, "chips")),
                                clock_core_mhz=_opt(row, "freq") or None,
                                ok=sleeping or bool(rate)))  # fmt: skip
    temps = [t for r in _rows(msg.get("edevs"), "edevs") if (t := _opt(r, "chip-temp-max"))]
    temp_max = max(temps) if temps else _opt(s, "chip-temp-max")
    pools = [Pool(url=_text(r.get("url")) or "", user=_text(r.get("account")) or "",
                  alive=r.get("status") == "alive", active=r.get("stratum-active") is True,
                  accepted=int(_opt(r, "accepted") or 0), rejected=int(_opt(r, "rejected") or 0))
             for r in _rows(msg.get("pools"), "pools")]  # fmt: skip
    codes = error_codes(info.get("error-code"))
    fans = [Fan(index=i, rpm=int(v)) for i, k in enumerate(("fan-speed-in", "fan-speed-out"))
            if (v := _opt(s, k)) is not None]  # fmt: skip
    mode = _text(s.get("power-mode"))
    led = _text(system.get("ledstatus"))
    stats = MinerStats(
        status=STATUS_SLEEPING if sleeping else STATUS_ONLINE,
        hashrate=_opt(s, "hash-realtime", 1e12), hashrate_nominal=_opt(s, "factory-hash", 1e12),
        algorithm=ALGORITHM, coin=COIN, power_w=_opt(s, "power-realtime"),
        power_limit_w=_opt(s, "power-limit"), temp_max=temp_max,
        uptime_s=None if s.get("elapsed") is None else int(_num(s["elapsed"], "elapsed")),
        hashboards=boards, fans=fans, pools=pools,
        errors=_errors(codes, boards, pools, temp_max, not sleeping),
        work_mode="sleep" if sleeping else mode, led=None if led is None else led != "auto",
    )  # fmt: skip
    config = MinerConfig(
        make=MAKE, model=model_name(miner.get("type")), firmware=_text(system.get("fwversion")),
        mac=_text(network.get("mac")), hostname=_text(network.get("hostname")),
        serial=_text(miner.get("miner-sn")),
    )  # fmt: skip
    return Snapshot(stats=stats, config=config)
