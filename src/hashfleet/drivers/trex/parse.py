"""T-Rex ``/summary`` → the canonical :class:`Snapshot`.

``gpus[]`` gives one board per card (``name``, ``hashrate`` H/s, ``temperature``,
``memory_temperature`` (0.2x+), ``power``, ``fan_speed``, ``cclock``/``mclock`` (0.2x+),
``shares.accepted_count``/``rejected_count``); the top level gives ``algorithm``,
``hashrate``, ``active_pool`` (``url``, ``user``, ``retries`` while reconnecting),
``accepted_count``/``rejected_count``, ``uptime``, ``paused`` and ``version``.
``dual_stat`` (dual mining, 0.24+) repeats ``algorithm``, ``hashrate``, ``active_pool``,
the counters and per-card ``gpus[].hashrate`` for the second algorithm.
"""

from __future__ import annotations

from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.gpu_common import (
    Stream,
    algorithm,
    build,
    count,
    gpu_board,
    listed,
    num,
    obj,
    sensor,
    temp,
    text,
)
from hashfleet.model.snapshot import Hashboard, Pool, Snapshot

MAKE = "T-Rex"


def parse(doc: Any) -> Snapshot:
    """A T-Rex ``/summary`` document → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    if not isinstance(doc, dict) or "gpus" not in doc:
        raise DeviceReplyInvalid("not a T-Rex summary (no gpus)")
    try:
        return _parse(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected T-Rex reply: {exc!r}") from exc


def _pool(section: dict[str, Any]) -> tuple[Pool | None, int]:
    active = obj(section.get("active_pool"))
    url = text(active.get("url"))
    retries = count(active.get("retries")) or 0
    if url is None:
        return None, retries
    pool = Pool(url=url, user=text(active.get("user")) or "", active=True,
                accepted=count(section.get("accepted_count")) or 0,
                rejected=count(section.get("rejected_count")) or 0)  # fmt: skip
    return pool, retries


def _stream(section: dict[str, Any]) -> tuple[Stream, int]:
    pool, retries = _pool(section)
    per = [num(obj(g).get("hashrate")) for g in listed(section.get("gpus"))]
    rate = num(section.get("hashrate"))
    stream = Stream(algorithm(section.get("algorithm")), rate, per, pool)
    return stream, retries


def _parse(doc: dict[str, Any]) -> Snapshot:
    version = text(doc.get("version"))
    software = f"{MAKE} {version}" if version else MAKE
    main, retries = _stream(doc)
    streams = [main]
    if doc.get("dual_stat") is not None:
        dual, dual_retries = _stream(obj(doc["dual_stat"]))
        streams.append(dual)
        retries = max(retries, dual_retries)
    boards: list[Hashboard] = []
    for raw in listed(doc.get("gpus")):
        g = obj(raw)
        shares = obj(g.get("shares"))
        boards.append(
            gpu_board(
                len(boards), software=software, name=text(g.get("name")),
                hashrate=num(g.get("hashrate")), temp_chip=temp(g.get("temperature")),
                temp_mem=temp(g.get("memory_temperature")), power_w=sensor(g.get("power")),
                fan_pct=num(g.get("fan_speed")), clock_core_mhz=num(g.get("cclock")),
                clock_mem_mhz=num(g.get("mclock")),
                accepted=count(shares.get("accepted_count")),
                rejected=count(shares.get("rejected_count")),
            )
        )  # fmt: skip
    paused = doc.get("paused") is True
    # T-Rex counts reconnection attempts in active_pool.retries; 0 while connected.
    pool_alive = False if retries > 0 else None
    uptime = count(doc.get("uptime"))
    return build(make=MAKE, version=version, boards=boards, streams=streams, uptime_s=uptime,
                 paused=paused, pool_alive=pool_alive)  # fmt: skip
