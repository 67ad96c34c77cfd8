"""Stock Antminer web UI replies (``/cgi-bin/*.cgi``) → the values the driver adds to a poll.

The cgminer API (parse.py) carries the measurements; the web UI adds what only it knows:
identity (``get_system_info.cgi``), the saved work mode and pools (``get_miner_conf.cgi``)
and the locate light (``get_blink_status.cgi``). Every parser takes the decoded JSON and
raises ``DeviceReplyInvalid`` for any shape it does not understand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hashfleet.core.errors import DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.antminer.parse import (
    ALGORITHM,
    COIN,
    ERR_HASHBOARD_DEAD,
    ERR_OVERHEAT,
    ERR_POOL_DOWN,
    EXPECTED_CHIPS,
    MAKE,
    OVERHEAT_C,
    _max_temp,
    _num,
    _rate_unit,
)
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

# bitmain-work-mode: "0" normal, "1" sleep, "3" low power (S19 XP and later); stock
# firmware of 2021 writes "" until the mode was first saved, which means normal.
WORK_MODES = {"": "normal", "0": "normal", "1": "sleep", "3": "low"}
MODE_CODES = {"normal": 0, "sleep": 1}
MAX_WEB_POOLS = 3  # the web UI has three pool slots


@dataclass(frozen=True, slots=True)
class Identity:
    """``get_system_info.cgi``: what identifies the unit (``None`` = not reported)."""

    model: str | None
    mac: str | None
    hostname: str | None
    serial: str | None


@dataclass(frozen=True, slots=True)
class MinerConf:
    """``get_miner_conf.cgi``: the saved configuration."""

    work_mode: str | None
    pools: list[tuple[str, str, str]]  # (url, user, password) of the used slots
    doc: dict[str, Any]  # the whole document, to write back with changes


def decode_web(raw: bytes) -> Any:
    """A web UI reply body → JSON (what HttpJsonClient does); not JSON → DeviceReplyInvalid."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DeviceReplyInvalid(f"web UI: body is not JSON: {exc}") from exc


_MINER_MODES = {0: "normal", 1: "sleep", 3: "low"}


def _text(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise DeviceReplyInvalid(f"web UI: {key} is a {type(value).__name__}, not text")
    text = str(value).strip()
    return text or None


def _object(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise DeviceReplyInvalid(f"web UI: {what} is not a JSON object")
    return doc


def parse_system_info(doc: Any) -> Identity:
    """``get_system_info.cgi`` → model, MAC, hostname, serial number.

    Firmware of 2021 has no ``serinum`` (the serial is only on the sticker then); the MAC
    comes upper- or lower-case and is normalised to upper-case.
    """
    info = _object(doc, "get_system_info")
    mac = _text(info, "macaddr")
    return Identity(
        model=_text(info, "minertype"),
        mac=mac.upper() if mac else None,
        hostname=_text(info, "hostname"),
        serial=_text(info, "serinum"),
    )


def parse_miner_conf(doc: Any) -> MinerConf:
    """``get_miner_conf.cgi`` → work mode (``None`` for a mode we do not know) and pools."""
    conf = _object(doc, "get_miner_conf")
    raw = conf.get("bitmain-work-mode")
    mode: str | None = None
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise DeviceReplyInvalid("web UI: bitmain-work-mode is not a number")
        mode = WORK_MODES.get(str(raw).strip())
    slots = conf.get("pools", [])
    if not isinstance(slots, list):
        raise DeviceReplyInvalid("web UI: pools is not a list")
    pools = []
    for slot in slots:
        slot = _object(slot, "a pool slot")
        url = _text(slot, "url")
        if url:
            pools.append((url, _text(slot, "user") or "", _text(slot, "pass") or ""))
    return MinerConf(work_mode=mode, pools=pools, doc=conf)


def parse_blink_status(doc: Any) -> bool:
    """``get_blink_status.cgi`` → whether the locate light blinks.

    Stock firmware answers ``{"blink": false}``; some builds send the word as a string.
    """
    status = _object(doc, "get_blink_status")
    value = status.get("blink")
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise DeviceReplyInvalid("web UI: get_blink_status has no blink flag")


def check_write(doc: Any, command: str, ok_codes: tuple[str, ...]) -> None:
    """A write's reply (``{"stats": "success", "code": "M000", …}``); raises
    ``DeviceCommandFailed`` when the device says it did not take it."""
    reply = _object(doc, command)
    code = reply.get("code")
    if code not in ok_codes:
        msg = reply.get("msg")
        raise DeviceCommandFailed(
            f"{command}: the miner answered {code!r}" + (f" ({msg})" if msg else ""),
            command=command,
            device_code=str(code),
        )


def conf_update(
    conf: MinerConf, *, pools: list[tuple[str, str, str]] | None = None, mode: str | None = None
) -> dict[str, Any]:
    """The body for ``set_miner_conf.cgi``: the saved settings with ``pools`` and/or ``mode``
    replaced. The web UI posts exactly these keys; the pools always fill three slots."""
    doc = conf.doc
    use_pools = pools if pools is not None else conf.pools
    slots = [{"url": u, "user": n, "pass": p} for u, n, p in use_pools[:MAX_WEB_POOLS]]
    slots += [{"url": "", "user": "", "pass": ""}] * (MAX_WEB_POOLS - len(slots))
    if mode is None:
        # Keep the saved mode as it is, including one we do not model (low power).
        raw = str(doc.get("bitmain-work-mode", "0")).strip() or "0"
        code = int(raw) if raw.isdecimal() and len(raw) < 4 else 0
    elif mode in MODE_CODES:
        code = MODE_CODES[mode]
    else:
        raise ValueError(f"work mode {mode!r} cannot be written; one of: normal, sleep")
    out: dict[str, Any] = {
        "bitmain-fan-ctrl": doc.get("bitmain-fan-ctrl", False),
        "bitmain-fan-pwm": str(doc.get("bitmain-fan-pwm", "100")),
        "freq-level": str(doc.get("bitmain-freq-level", "100")),
        "bitmain-work-mode": str(code),
        "miner-mode": code,
        "pools": slots,
    }
    return out


def parse_web_stats(summary: Any, stats: Any, pools: Any) -> Snapshot:
    """``summary.cgi`` + ``stats.cgi`` + ``pools.cgi`` → snapshot, for a miner whose cgminer
    API does not answer (``api-listen`` off). No power figure: the web UI has none."""
    try:
        return _web_stats(summary, stats, pools)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        # OverflowError: int() of an infinite number the device sent
        raise DeviceReplyInvalid(f"unexpected web UI stats: {exc!r}") from exc


def _first(doc: Any, what: str, section: str) -> dict[str, Any]:
    rows = _object(doc, what).get(section)
    if not isinstance(rows, list) or not rows:
        raise DeviceReplyInvalid(f"web UI: {what} has no {section}")
    return _object(rows[0], f"{what} {section}[0]")


def _web_stats(summary_doc: Any, stats_doc: Any, pools_doc: Any) -> Snapshot:
    # stats.cgi: INFO.type ("Antminer S19j Pro"), INFO.CompileTime
    info = _object(_object(stats_doc, "stats.cgi").get("INFO", {}), "stats.cgi INFO")
    model_type = _text(info, "type") or ""
    model = model_type.removeprefix(MAKE + " ") if model_type else None
    firmware = _text(info, "CompileTime")
    stats = _first(stats_doc, "stats.cgi", "STATS")
    summary = _first(summary_doc, "summary.cgi", "SUMMARY")
    # stats.cgi: rate_unit "GH/s" scales rate_5s, rate_ideal and every chain's rate_real
    unit = _rate_unit(stats.get("rate_unit", summary.get("rate_unit")))
    mode = _num(stats.get("miner-mode"))
    work_mode = _MINER_MODES.get(int(mode)) if mode is not None else None
    sleeping = work_mode == "sleep"
    expected = EXPECTED_CHIPS.get((model or "").split(" (", 1)[0])
    chains = stats.get("chain", [])
    if not isinstance(chains, list):
        raise DeviceReplyInvalid("web UI: stats.cgi chain is not a list")
    boards = []
    for index, chain in enumerate(chains):
        chain = _object(chain, "a chain")
        rate = _num(chain.get("rate_real"))
        chips = _num(chain.get("asic_num"))
        hashrate = float(round(rate * unit)) if rate is not None else None
        boards.append(
            Hashboard(
                index=index,
                hashrate=hashrate,
                temp_board=_max_temp(chain.get("temp_pcb")),
                temp_chip=_max_temp(chain.get("temp_chip")),
                chips=int(chips) if chips is not None else None,
                chips_expected=expected,
                # Asleep, boards hash nothing by design; only one without chips is dead.
                ok=bool(chips) and (sleeping or bool(hashrate)),
            )
        )
    fans_raw = stats.get("fan", [])
    if not isinstance(fans_raw, list):
        raise DeviceReplyInvalid("web UI: stats.cgi fan is not a list")
    fans = [Fan(index=i, rpm=int(_num(rpm) or 0)) for i, rpm in enumerate(fans_raw)]
    # pools.cgi: POOLS[] url, user, status, priority, accepted, rejected (no "active" flag:
    # the miner works on the alive pool of best priority)
    rows = _object(pools_doc, "pools.cgi").get("POOLS", [])
    if not isinstance(rows, list):
        raise DeviceReplyInvalid("web UI: pools.cgi POOLS is not a list")
    rows = [_object(r, "a pool") for r in rows]
    alive = [r for r in rows if r.get("status") == "Alive"]
    best = min(alive, key=lambda r: _num(r.get("priority")) or 0.0) if alive else None
    pool_list = [
        Pool(
            url=str(r.get("url", "")),
            user=str(r.get("user", "")),
            alive=r.get("status") == "Alive",
            active=r is best,
            accepted=int(_num(r.get("accepted")) or 0),
            rejected=int(_num(r.get("rejected")) or 0),
        )
        for r in rows
    ]
    temps = [t for b in boards for t in (b.temp_chip, b.temp_board) if t is not None]
    temp_max = max(temps) if temps else None
    errors = []
    if any(not b.ok for b in boards):
        errors.append(ERR_HASHBOARD_DEAD)
    if temp_max is not None and temp_max >= OVERHEAT_C:
        errors.append(ERR_OVERHEAT)
    if pool_list and not any(p.alive for p in pool_list):
        errors.append(ERR_POOL_DOWN)
    rate_5s = _num(stats.get("rate_5s", summary.get("rate_5s")))
    nominal = _num(stats.get("rate_ideal", summary.get("rate_ideal")))
    elapsed = _num(stats.get("elapsed", summary.get("elapsed")))
    out = MinerStats(
        status=STATUS_SLEEPING if sleeping else STATUS_ONLINE,
        hashrate=float(round(rate_5s * unit)) if rate_5s is not None else None,
        hashrate_nominal=float(round(nominal * unit)) if nominal is not None else None,
        algorithm=ALGORITHM,
        coin=COIN,
        temp_max=temp_max,
        uptime_s=int(elapsed) if elapsed is not None else None,
        hashboards=boards,
        fans=fans,
        pools=pool_list,
        errors=errors,
        work_mode=work_mode,
    )
    return Snapshot(stats=out, config=MinerConfig(make=MAKE, model=model, firmware=firmware))
