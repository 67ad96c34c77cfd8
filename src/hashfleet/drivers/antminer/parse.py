"""bmminer replies → the canonical :class:`Snapshot`.

Input is the reply to the joined command ``summary+stats+pools+version`` (or the same
shape assembled from separate replies): ``{command: [reply], …}``. Each field below names
the command and key that feed it. Numbers may arrive as strings (bmminer sends per-chain
rates that way); a value of the wrong shape makes the whole reply invalid rather than
silently wrong.
"""

from __future__ import annotations

import math
from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.model.snapshot import (
    STATUS_ONLINE,
    Fan,
    Hashboard,
    MinerConfig,
    MinerStats,
    Pool,
    Snapshot,
)

MAKE = "Antminer"
COIN = "BTC"
ALGORITHM = "sha256d"
OVERHEAT_C = 90.0
ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"

# Chips per hashboard of common models (the replies only carry the chips found).
EXPECTED_CHIPS = {"S9": 63, "S19": 76, "S19 Pro": 114, "S19j Pro": 126, "S21": 108}
_RATE_UNITS = {"H": 1.0, "KH": 1e3, "MH": 1e6, "GH": 1e9, "TH": 1e12, "PH": 1e15}
_MAX_CHAINS = 16


def parse_joined(reply: dict[str, Any]) -> Snapshot:
    """Joined reply → snapshot; a reply of unexpected shape raises ``DeviceReplyInvalid``."""
    try:
        return _parse(reply)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise DeviceReplyInvalid(f"unexpected bmminer reply: {exc!r}") from exc


def _parse(reply: dict[str, Any]) -> Snapshot:
    summary_rows = _rows(reply, "summary", "SUMMARY")
    if not summary_rows:
        raise DeviceReplyInvalid("reply has no summary")
    summary = summary_rows[0]
    stats_rows = _rows(reply, "stats", "STATS")
    stats = _stats_block(stats_rows)
    head = stats_rows[0] if stats_rows else {}
    version_rows = _rows(reply, "version", "VERSION")
    version = version_rows[0] if version_rows else head

    # version: VERSION[0].Type ("Antminer S19j Pro"), CompileTime; stats STATS[0] as fallback
    model_type = str(version.get("Type") or head.get("Type") or "")
    make, _, model = model_type.partition(" ")
    if make.lower() != MAKE.lower():
        make, model = MAKE, model_type
    firmware = version.get("CompileTime") or version.get("BMMiner")
    config = MinerConfig(
        make=MAKE, model=model or None, firmware=str(firmware) if firmware else None
    )

    # stats: STATS[1].rate_unit scales total_rateideal and chain_rateN
    unit = _rate_unit(stats.get("rate_unit"))
    # Some builds append a variant, "S19j Pro (90T)"; the chip count is the model's.
    boards = _boards(stats, unit, EXPECTED_CHIPS.get(model.split(" (", 1)[0]))
    # summary: "GHS 5s" (GH/s), the miner's own short-window total
    hashrate = _hashrate(summary)
    # stats: total_rateideal, the nameplate rate
    nominal = _num(stats.get("total_rateideal"))
    # stats: chain_power "3068.42 W" where the firmware reports it
    power = _leading_number(stats.get("chain_power"))
    # stats: Elapsed; summary: Elapsed when stats lacks it
    uptime = _num(stats.get("Elapsed", summary.get("Elapsed")))
    # pools: POOLS[] URL, User, Status, Stratum Active, Accepted, Rejected
    pools = [_pool(row) for row in _rows(reply, "pools", "POOLS")]

    temps = [t for b in boards for t in (b.temp_chip, b.temp_board) if t is not None]
    temp_max = max(temps) if temps else None
    errors = []
    if any(not b.ok for b in boards):
        errors.append(ERR_HASHBOARD_DEAD)
    if temp_max is not None and temp_max >= OVERHEAT_C:
        errors.append(ERR_OVERHEAT)
    if pools and not any(p.alive for p in pools):
        errors.append(ERR_POOL_DOWN)
    stats_out = MinerStats(
        status=STATUS_ONLINE,  # answered: online even when boards or pools are in trouble
        hashrate=hashrate,
        hashrate_nominal=float(round(nominal * unit)) if nominal is not None else None,
        algorithm=ALGORITHM,
        coin=COIN,
        power_w=power,
        temp_max=temp_max,
        uptime_s=int(uptime) if uptime is not None else None,
        hashboards=boards,
        fans=_fans(stats),
        pools=pools,
        errors=errors,
    )
    return Snapshot(stats=stats_out, config=config)


def _rows(reply: dict[str, Any], command: str, section: str) -> list[dict[str, Any]]:
    """``reply[command][0][section]``; ``[]`` when the device had nothing to list."""
    part = reply.get(command)
    if part is None:
        return []
    rows = part[0].get(section, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DeviceReplyInvalid(f"{command}: {section} is not a list of objects")
    return rows


def _stats_block(rows: list[dict[str, Any]]) -> dict[str, Any]:
    # STATS[0] describes the miner, STATS[1] holds the data; find it by its keys.
    for row in rows:
        if "Elapsed" in row or "fan_num" in row or "chain_acn1" in row:
            return row
    return rows[-1] if rows else {}


def _hashrate(summary: dict[str, Any]) -> float | None:
    for key, scale in (("GHS 5s", 1e9), ("MHS 5s", 1e6), ("GHS av", 1e9), ("MHS av", 1e6)):
        value = _num(summary.get(key))
        if value is not None:
            return float(round(value * scale))
    return None


def _boards(stats: dict[str, Any], unit: float, chips_expected: int | None) -> list[Hashboard]:
    chains = [i for i in range(1, _MAX_CHAINS + 1) if f"chain_acn{i}" in stats]
    boards = []
    for index, i in enumerate(chains):
        # stats: chain_rateN (string GH/s), chain_acnN, temp_pcbN "a-b-c-d" / tempN,
        # temp_chipN / temp2_N
        rate = _num(stats.get(f"chain_rate{i}"))
        chips = _num(stats.get(f"chain_acn{i}"))
        pcb = _max_temp(stats.get(f"temp_pcb{i}")) or _max_temp(stats.get(f"temp{i}"))
        chip = _max_temp(stats.get(f"temp_chip{i}")) or _max_temp(stats.get(f"temp2_{i}"))
        # Whole H/s: GH/s times 1e9 in binary floating point leaves noise below 0.01 H/s.
        hashrate = float(round(rate * unit)) if rate is not None else None
        boards.append(
            Hashboard(
                index=index,
                hashrate=hashrate,
                temp_board=pcb,
                temp_chip=chip,
                chips=int(chips) if chips is not None else None,
                chips_expected=chips_expected,
                ok=bool(chips) and bool(hashrate),
            )
        )
    return boards


def _fans(stats: dict[str, Any]) -> list[Fan]:
    # stats: fan_num and fan1..fan8 (rpm). S19/S21 fill fan1..fan4 and a stopped fan reads 0;
    # S9 reports fan_num 2 with its fans on fan3 and fan6 and zeros elsewhere.
    count = int(_num(stats.get("fan_num")) or 0)
    present = [(n, _num(stats.get(f"fan{n}"))) for n in range(1, 9) if f"fan{n}" in stats]
    spinning: list[tuple[int, float | None]] = [(n, rpm) for n, rpm in present if rpm]
    chosen = spinning
    if count and all(n <= count for n, _ in spinning):
        chosen = [(n, rpm) for n, rpm in present if n <= count]
    return [Fan(index=n - 1, rpm=int(rpm or 0)) for n, rpm in chosen]


def _pool(row: dict[str, Any]) -> Pool:
    return Pool(
        url=str(row.get("URL", "")),
        user=str(row.get("User", "")),
        alive=row.get("Status") == "Alive",
        active=_bool(row.get("Stratum Active")),
        accepted=int(_num(row.get("Accepted")) or 0),
        rejected=int(_num(row.get("Rejected")) or 0),
    )


def _rate_unit(value: Any) -> float:
    if value is None:
        return 1e9  # bmminer's default is GH
    key = str(value).upper().removesuffix("/S").strip()
    if key not in _RATE_UNITS:
        raise ValueError(f"unknown rate_unit {value!r}")
    return _RATE_UNITS[key]


def _num(value: Any) -> float | None:
    """A number that may come as a string; ``None``/empty means not reported.

    Raises ``ValueError`` for infinity or NaN (the reply is garbage: ``parse_joined`` turns
    it into ``DeviceReplyInvalid``), as for any other text that is not a number.
    """
    kind = type(value)
    if kind is float or kind is int:  # the common case first: this runs ~30 times a poll
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


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "y", "yes", "1")
    return bool(value)


def _max_temp(value: Any) -> float | None:
    """Hottest sensor as bmminer writes them ("44-45-58-59", [44, 45], 44); 0 = not read."""
    if value is None:
        return None
    if isinstance(value, str):
        parts: list[Any] = [p for p in value.split("-") if p.strip()]
    elif isinstance(value, list):
        parts = value
    else:
        parts = [value]
    hottest = max((_num(p) or 0.0 for p in parts), default=0.0)
    return hottest or None


def _leading_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _num(value)
    return _num(str(value).strip().split(" ", 1)[0])
