"""Avalon (Canaan cgminer) replies → the canonical :class:`Snapshot`.

Input is ``{command: [reply], …}`` for ``version``, ``summary``, ``estats`` and ``pools``:
the JSON reply to the joined command, or text replies decoded by :func:`decode_text` into
the same shape (every value a string then). The Avalon specifics are the ``MM ID0`` string
of ``estats`` (``Temp[25] Fan1[5400] MGHS[30012.5 29980.1 30001.7] PVT_T0[61 62 …]``), read
by :func:`parse_mm`; newer firmware splits it into ``MM ID0:Summary`` plus ``HBinfo``.
A value of the wrong shape makes the whole reply invalid rather than silently wrong.
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

MAKE = "Avalon"
COIN = "BTC"
ALGORITHM = "sha256d"
OVERHEAT_C = 90.0
ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"

# WORKMODE index → our power mode name, per model (what each model's web UI offers).
WORKMODES: dict[str, tuple[str, ...]] = {
    "1246": ("normal", "high"),
    "1366": ("normal", "high"),
    "Nano 3": ("low", "normal", "high"),
}
EXPECTED_CHIPS = {"1246": 120, "1366": 114, "Nano 3": 10}
_MM_FIELD = re.compile(r"([A-Za-z_]\w*)\[([^\]\[]*)\]")
_MAX_FANS = 9
_STATUS_LETTERS = frozenset("SIWEF")
# Text rows that start with their own id ("POOL=0,URL=…") and the JSON section they fill.
_TEXT_SECTIONS = {"POOL": "POOLS", "ASC": "DEVS", "PGA": "DEVS"}


def decode_json(raw: bytes) -> dict[str, Any]:
    """A JSON reply's bytes → object, as ``decode_reply``; also a string holding invalid
    UTF-8 is an invalid reply (msgspec raises ``UnicodeDecodeError`` for it)."""
    try:
        return decode_reply(raw)
    except UnicodeDecodeError as exc:
        raise DeviceReplyInvalid(f"reply is not UTF-8: {exc}") from exc


# -- cgminer's text encoding --------------------------------------------------------------


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped by a backslash; escapes are kept."""
    out, start, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == sep:
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text) if "\\" in text else text


def decode_text(raw: bytes) -> dict[str, Any]:
    """One text reply (``STATUS=S,…|SUMMARY,Elapsed=5,…|``) → the JSON reply's shape.

    Raises ``DeviceReplyInvalid`` for anything that is not cgminer text.
    """
    try:
        text = raw.rstrip(b"\x00 \t\r\n").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeviceReplyInvalid(f"text reply is not UTF-8: {exc}") from exc
    if not text.startswith("STATUS="):
        raise DeviceReplyInvalid(f"not a cgminer text reply (starts {text[:30]!r})")
    out: dict[str, Any] = {}
    for part in _split(text, "|"):
        if not part:
            continue
        fields = _split(part, ",")
        head = fields[0]
        row: dict[str, Any] = {}
        if "=" in head:
            section = head.split("=", 1)[0]
            section = _TEXT_SECTIONS.get(section, section)
        else:
            section, fields = _unescape(head), fields[1:]
        for item in fields:
            key, eq, value = item.partition("=")
            if not eq:
                raise DeviceReplyInvalid(f"text field without '=': {item[:40]!r}")
            row.setdefault(_unescape(key), _unescape(value))
        out.setdefault(section, []).append(row)
    status = out.get("STATUS", [{}])[0].get("STATUS")
    if status not in _STATUS_LETTERS:
        raise DeviceReplyInvalid(f"text reply has STATUS {status!r}")
    out["id"] = 1
    return out


# -- the MM ID string ---------------------------------------------------------------------


def parse_mm(text: str) -> dict[str, str]:
    """``"Temp[25] PVT_T0[61 62] …"`` → ``{"Temp": "25", "PVT_T0": "61 62"}`` (first wins)."""
    fields: dict[str, str] = {}
    for key, value in _MM_FIELD.findall(text):
        fields.setdefault(key, value.strip())
    return fields


def mm_fields(rows: list[dict[str, Any]]) -> dict[str, str]:
    """All ``KEY[value]`` fields of ``estats``: ``MM ID0``, ``MM ID0:Summary``, ``HBinfo``."""
    fields: dict[str, str] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str) and (key.startswith("MM ID") or key == "HBinfo"):
                for k, v in parse_mm(value).items():
                    fields.setdefault(k, v)
    return fields


# -- the snapshot -------------------------------------------------------------------------


def parse_joined(reply: dict[str, Any]) -> Snapshot:
    """Joined (or assembled) reply → snapshot; unexpected shapes raise ``DeviceReplyInvalid``."""
    try:
        return _parse(reply)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected Avalon reply: {exc!r}") from exc


def model_name(version: dict[str, Any]) -> str | None:
    """``VERSION[0]`` → our model name: MODEL "1246-90" → "1246", "Nano3" → "Nano 3"."""
    code = str(version.get("MODEL") or "").strip()
    prod = str(version.get("PROD") or "").strip()
    if not code:
        code = prod.removeprefix("AvalonMiner").strip()
    base = code.split("-", 1)[0].strip()
    if base.lower().startswith("nano"):
        return "Nano " + base[4:].strip() if base[4:].strip() else "Nano"
    return base or None


def _parse(reply: dict[str, Any]) -> Snapshot:
    summary_rows = _rows(reply, "summary", "SUMMARY")
    if not summary_rows:
        raise DeviceReplyInvalid("reply has no summary")
    summary = summary_rows[0]
    version_rows = _rows(reply, "version", "VERSION")
    version = version_rows[0] if version_rows else {}
    mm = mm_fields(_rows(reply, "estats", "STATS"))

    # version: MODEL / PROD, VERSION (firmware build), MAC (12 hex digits), DNA (chip id)
    model = model_name(version)
    firmware = version.get("VERSION") or version.get("LVERSION") or mm.get("Ver")
    config = MinerConfig(
        make=MAKE,
        model=model,
        firmware=str(firmware) if firmware else None,
        mac=_mac(version.get("MAC")),
        serial=str(version["DNA"]) if version.get("DNA") else mm.get("DNA"),
    )

    # estats: SoftOFF[1] while switched off by ascset softoff
    sleeping = _mm_num(mm, "SoftOFF") == 1
    boards = _boards(mm, EXPECTED_CHIPS.get(model or ""), sleeping)
    # summary: "MHS 1m" (MH/s; the 5 s window of Avalon is noisy); estats GHSspd otherwise
    hashrate = _hashrate(summary, mm)
    # estats: GHSmm, what the module should make at its work mode
    nominal = _mm_num(mm, "GHSmm")
    # estats: WALLPOWER (newer firmware), else PS[6] (input watts) or PS[4] (output watts)
    power = _power(mm)
    # pools: POOLS[] URL, User, Status, Stratum Active, Accepted, Rejected
    pools = [_pool(row) for row in _rows(reply, "pools", "POOLS")]
    # estats: TMax, the hottest chip; the boards' MTmax
    temps = [t for b in boards for t in (b.temp_chip, b.temp_board) if t is not None]
    tmax = _mm_num(mm, "TMax")
    if tmax:
        temps.append(tmax)
    temp_max = max(temps) if temps else None
    mode = _mm_num(mm, "WORKMODE")
    work_mode = "sleep" if sleeping else _mode_name(model, mode)

    errors = []
    if not sleeping and any(not b.ok for b in boards):
        errors.append(ERR_HASHBOARD_DEAD)
    if temp_max is not None and temp_max >= OVERHEAT_C:
        errors.append(ERR_OVERHEAT)
    if pools and not any(p.alive for p in pools):
        errors.append(ERR_POOL_DOWN)
    uptime = _num(summary.get("Elapsed"))
    if uptime is None:
        uptime = _mm_num(mm, "Elapsed")
    led = _mm_num(mm, "Led")
    limit = _mm_num(mm, "MPO")
    stats = MinerStats(
        status=STATUS_SLEEPING if sleeping else STATUS_ONLINE,
        hashrate=hashrate,
        hashrate_nominal=float(round(nominal * 1e9)) if nominal is not None else None,
        algorithm=ALGORITHM,
        coin=COIN,
        power_w=power,
        temp_max=temp_max,
        uptime_s=int(uptime) if uptime is not None else None,
        hashboards=boards,
        fans=_fans(mm),
        pools=pools,
        errors=errors,
        work_mode=work_mode,
        power_limit_w=limit or None,
        led=None if led is None else led == 1,
    )
    return Snapshot(stats=stats, config=config)


def _rows(reply: dict[str, Any], command: str, section: str) -> list[dict[str, Any]]:
    part = reply.get(command)
    if part is None:
        return []
    rows = part[0].get(section, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DeviceReplyInvalid(f"{command}: {section} is not a list of objects")
    return rows


def _mode_name(model: str | None, mode: float | None) -> str | None:
    if mode is None:
        return None
    names = WORKMODES.get(model or "", ())
    index = int(mode)
    return names[index] if 0 <= index < len(names) else f"mode{index}"


def _boards(mm: dict[str, str], chips_expected: int | None, sleeping: bool) -> list[Hashboard]:
    rates = _mm_list(mm, "MGHS")
    if rates is None:
        # Single-board firmware without per-board fields: the module is the board.
        ghs = _mm_num(mm, "GHSspd")
        if ghs is None:
            return []
        rates = [ghs]
    tmax = _mm_list(mm, "MTmax") or []
    tavg = _mm_list(mm, "MTavg") or []
    echu = _mm_list(mm, "ECHU") or []
    boards = []
    for b, rate in enumerate(rates):
        chip_temps = _mm_list(mm, f"PVT_T{b}")
        chips = sum(1 for t in chip_temps if t) if chip_temps is not None else None
        hot = tmax[b] if b < len(tmax) and tmax[b] else None
        avg = tavg[b] if b < len(tavg) and tavg[b] else None
        if hot is None and len(rates) == 1:
            hot = _mm_num(mm, "TMax") or None
        error = bool(echu[b]) if b < len(echu) else False
        ok = sleeping or (rate > 0 and chips != 0 and not error)
        boards.append(
            Hashboard(
                index=b,
                hashrate=float(round(rate * 1e9)),
                temp_chip=hot,
                # MTavg, the board's average chip temperature: Avalon has no PCB sensor.
                temp_board=avg,
                chips=chips,
                chips_expected=chips_expected,
                ok=ok,
                kind="board",
            )
        )
    return boards


def _fans(mm: dict[str, str]) -> list[Fan]:
    fans = []
    for n in range(1, _MAX_FANS + 1):
        rpm = _mm_num(mm, f"Fan{n}")
        if rpm is not None:
            fans.append(Fan(index=n - 1, rpm=int(rpm)))
    if not fans and (rpm := _mm_num(mm, "Fan")) is not None:
        fans.append(Fan(index=0, rpm=int(rpm)))  # A7/A8 modules report one "Fan"
    return fans


def _hashrate(summary: dict[str, Any], mm: dict[str, str]) -> float | None:
    for key in ("MHS 1m", "MHS 5s", "MHS av"):
        value = _num(summary.get(key))
        if value is not None:
            return float(round(value * 1e6))
    ghs = _mm_num(mm, "GHSspd")
    return float(round(ghs * 1e9)) if ghs is not None else None


def _power(mm: dict[str, str]) -> float | None:
    wall = _mm_num(mm, "WALLPOWER")
    if wall:
        return wall
    ps = _mm_list(mm, "PS") or []
    for index in (6, 4):
        if len(ps) > index and ps[index] > 0:
            return ps[index]
    return None


def _pool(row: dict[str, Any]) -> Pool:
    return Pool(
        url=str(row.get("URL", "")),
        user=str(row.get("User", "")),
        alive=row.get("Status") == "Alive",
        active=_bool(row.get("Stratum Active")),
        accepted=int(_num(row.get("Accepted")) or 0),
        rejected=int(_num(row.get("Rejected")) or 0),
    )


def _mac(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    digits = value.replace(":", "").replace("-", "").strip().upper()
    if len(digits) != 12 or any(c not in "0123456789ABCDEF" for c in digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _mm_num(mm: dict[str, str], key: str) -> float | None:
    value = mm.get(key)
    if value is None:
        return None
    return _num(value.split()[0] if value.split() else "")


def _mm_list(mm: dict[str, str], key: str) -> list[float] | None:
    value = mm.get(key)
    if value is None:
        return None
    return [_finite(float(v)) for v in value.split()]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return value


def _num(value: Any) -> float | None:
    """A number that may come as a string (always, in text mode); ``None``/empty: not given."""
    kind = type(value)
    if kind is float or kind is int:
        return _finite(float(value))
    if value is None or kind is bool:
        return None
    if isinstance(value, str):
        text = value.strip().removesuffix("%")
        return _finite(float(text)) if text else None
    if isinstance(value, int | float):
        return _finite(float(value))
    raise TypeError(f"expected a number, got {kind.__name__}")


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "y", "yes", "1")
    return bool(value)
