"""IceRiver ``/user/userpanel?post=4`` documents → the canonical :class:`Snapshot`.

The document is ``{"code": 0, "data": {…}}``. Hashrates are strings with a unit letter:
the top-level ``rtpow`` in ``data.unit`` ("6012.33G"; newer firmware "12.01T" with unit
"T"), the boards' ``rtpow`` in G. Older firmware sends some numbers as strings. A value of
the wrong shape makes the whole document invalid rather than silently wrong.
"""

from __future__ import annotations

import math
from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
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

MAKE = "IceRiver"
COIN = "KAS"
ALGORITHM = "kHeavyHash"
OVERHEAT_C = 90.0
ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"

EXPECTED_CHIPS = {"KS0": 2, "KS2": 18, "KS3M": 18, "KS5": 92, "KS5L": 18, "KS5M": 18}
_UNITS = {"": 1e9, "H": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_userpanel(doc: Any) -> Snapshot:
    """Panel document → snapshot; an unexpected shape raises ``DeviceReplyInvalid``."""
    try:
        return _parse(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected IceRiver panel: {exc!r}") from exc


def model_name(data: dict[str, Any]) -> str | None:
    """``softver1`` "ks3m_miner" or "20240315_ks5lminer" → "KS3M" / "KS5L"."""
    soft = str(data.get("softver1") or "").strip().lower()
    parts = [p for p in soft.split("_") if p]
    if parts and parts[-1] == "miner" and len(parts) > 1:
        name = parts[-2]
    elif parts and parts[-1].endswith("miner"):
        name = parts[-1].removesuffix("miner")
    else:
        name = str(data.get("model") or "")
    name = name.strip().upper()
    return name if name and name != "NONE" else None


def _parse(doc: Any) -> Snapshot:
    if not isinstance(doc, dict) or doc.get("code") != 0:
        code = doc.get("code") if isinstance(doc, dict) else None
        raise DeviceReplyInvalid(f"panel answered code {code!r}")
    data = doc["data"]
    if not isinstance(data, dict):
        raise DeviceReplyInvalid("panel data is not an object")

    model = model_name(data)
    firmware = data.get("softver2") or data.get("firmver1")
    config = MinerConfig(
        make=MAKE,
        model=model,
        firmware=str(firmware) if firmware else None,
        mac=_mac(data.get("mac")),
        hostname=str(data["host"]) if data.get("host") else None,
    )
    # data.rtpow in data.unit (a unit letter on the value wins)
    hashrate = _rate(data.get("rtpow"), str(data.get("unit") or "G"))
    boards = [_board(b, EXPECTED_CHIPS.get(model or "")) for b in _list(data, "boards")]
    fans = [Fan(index=i, rpm=int(_num(rpm) or 0)) for i, rpm in enumerate(_list(data, "fans"))]
    pools = [_pool(p) for p in _list(data, "pools")]
    pools = [p for p in pools if p.url]  # empty slots
    temps = [t for b in boards for t in (b.temp_chip, b.temp_board) if t is not None]
    temp_max = max(temps) if temps else None
    errors = []
    if any(not b.ok for b in boards):
        errors.append(ERR_HASHBOARD_DEAD)
    if temp_max is not None and temp_max >= OVERHEAT_C:
        errors.append(ERR_OVERHEAT)
    if pools and not any(p.alive for p in pools):
        errors.append(ERR_POOL_DOWN)
    locate = data.get("locate")
    mining = data.get("powstate")
    stats = MinerStats(
        status=STATUS_SLEEPING if mining is False else STATUS_ONLINE,
        hashrate=hashrate,
        hashrate_nominal=_nominal(boards, data),
        algorithm=ALGORITHM,
        coin=COIN,
        temp_max=temp_max,
        uptime_s=_runtime(data.get("runtime")),
        hashboards=boards,
        fans=fans,
        pools=pools,
        errors=errors,
        led=locate if isinstance(locate, bool) else None,
    )
    return Snapshot(stats=stats, config=config)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DeviceReplyInvalid(f"panel {key} is not a list")
    return value


def _board(row: Any, chips_expected: int | None) -> Hashboard:
    if not isinstance(row, dict):
        raise DeviceReplyInvalid("panel board is not an object")
    chips = _num(row.get("chipnum"))
    state = row.get("state")
    error = _num(row.get("error")) or 0
    # Not the hashrate: with no pool every board makes 0 H/s and is still healthy.
    ok = state is not False and chips != 0 and not error
    return Hashboard(
        index=int(_num(row["no"]) or 1) - 1,
        hashrate=_rate(row.get("rtpow"), "G"),
        temp_board=_num(row.get("intmp")) or None,  # inlet side of the board
        temp_chip=_num(row.get("outtmp")) or None,  # outlet side, next to the hottest chips
        chips=int(chips) if chips is not None else None,
        chips_expected=chips_expected,
        ok=ok,
        kind="board",
    )


def _nominal(boards: list[Hashboard], data: dict[str, Any]) -> float | None:
    ideal = [_rate(b.get("idealpow"), "G") for b in _list(data, "boards") if isinstance(b, dict)]
    known = [x for x in ideal if x is not None]
    return float(round(sum(known))) if known and len(known) == len(boards) else None


def _pool(row: Any) -> Pool:
    if not isinstance(row, dict):
        raise DeviceReplyInvalid("panel pool is not an object")
    return Pool(
        url=str(row.get("addr") or ""),
        user=str(row.get("user") or ""),
        alive=_num(row.get("state")) == 1,
        active=row.get("connect") is True,
        accepted=int(_num(row.get("accepted")) or 0),
        rejected=int(_num(row.get("rejected")) or 0),
    )


def _rate(value: Any, unit: str) -> float | None:
    """ "6012.33G" → 6.01233e12; a bare number is in ``unit``."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, letter = float(value), unit
    else:
        text = str(value).strip().upper().removesuffix("/S").removesuffix("H").strip()
        letter = text[-1] if text and text[-1].isalpha() else unit.upper()
        number = float(text.rstrip("HKMGTP").strip())
    if not math.isfinite(number) or letter.upper() not in _UNITS:
        raise ValueError(f"bad hashrate {value!r}")
    return float(round(number * _UNITS[letter.upper()]))


def _runtime(value: Any) -> int | None:
    """ "12:05:33:17" (days:hours:minutes:seconds; older firmware drops the days)."""
    if value is None or value == "":
        return None
    parts = [int(p) for p in str(value).strip().split(":")]
    if not 1 <= len(parts) <= 4 or any(p < 0 for p in parts):
        raise ValueError(f"bad runtime {value!r}")
    seconds = 0
    for part, scale in zip(reversed(parts), (1, 60, 3600, 86400), strict=False):
        seconds += part * scale
    return seconds


def _mac(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    digits = value.replace(":", "").replace("-", "").strip().upper()
    if len(digits) != 12 or any(c not in "0123456789ABCDEF" for c in digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _num(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int:
        number = float(value)
    elif value is None or kind is bool:
        return None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = float(text)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise TypeError(f"expected a number, got {kind.__name__}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number
