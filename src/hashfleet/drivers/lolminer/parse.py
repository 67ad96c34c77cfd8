"""lolMiner API documents → the canonical :class:`Snapshot`.

Two shapes, told apart by their keys:

- lolMiner 1.3x and later: ``Workers[]`` (one per card: ``Name``, ``Power``, ``CCLK``,
  ``MCLK``, ``Core_Temp``, ``Mem_Temp``, ``Fan_Speed``) and ``Algorithms[]`` (one per mined
  algorithm, two when dual mining: ``Algorithm``, ``Pool``, ``User``, ``Total_Performance``
  in ``Performance_Unit`` times ``Performance_Factor``, ``Worker_Performance[]``,
  ``Total_Accepted``/``Total_Rejected`` and their ``Worker_*[]``);
- lolMiner 1.2x: ``Session`` (``Performance_Summary`` in ``Performance_Unit``,
  ``Accepted``/``Submitted``), ``Mining.Algorithm``, ``Stratum`` and ``GPUs[]`` with sensors
  under display names (``"Temp (deg C)"``…).

lolMiner reports no pool connection state and no pause, so a lost pool shows only as every
card idling (see :func:`hashfleet.drivers.gpu_common.build`).
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
    split_software,
    temp,
    text,
    total,
    unit_factor,
)
from hashfleet.model.snapshot import Hashboard, Pool, Snapshot

MAKE = "lolMiner"


def parse(doc: Any) -> Snapshot:
    """A lolMiner ``/summary`` document → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    if not isinstance(doc, dict):
        raise DeviceReplyInvalid("lolMiner reply is not a JSON object")
    try:
        if "Algorithms" in doc or "Workers" in doc:
            return _current(doc)
        if "GPUs" in doc:
            return _legacy(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected lolMiner reply: {exc!r}") from exc
    raise DeviceReplyInvalid("not a lolMiner summary (no Algorithms, Workers or GPUs)")


def _factor(algo: dict[str, Any]) -> float | None:
    # Performance_Factor (1.4x+) is the exact multiplier; older 1.3x only name the unit.
    factor = num(algo.get("Performance_Factor"))
    if factor is not None and factor > 0:
        return factor
    return unit_factor(algo.get("Performance_Unit"))


def _scaled(value: Any, factor: float | None) -> float | None:
    raw = num(value)
    return round(raw * factor, 2) if raw is not None and factor is not None else None


def _at(values: list[Any], i: int) -> Any:
    return values[i] if i < len(values) else None


def _current(doc: dict[str, Any]) -> Snapshot:
    make, version = split_software(doc.get("Software"), MAKE)
    software = f"{make} {version}" if version else make
    workers = listed(doc.get("Workers"))
    streams: list[Stream] = []
    for raw in listed(doc.get("Algorithms")):
        algo = obj(raw)
        factor = _factor(algo)
        per = [_scaled(v, factor) for v in listed(algo.get("Worker_Performance"))]
        rate = _scaled(algo.get("Total_Performance"), factor)
        url = text(algo.get("Pool"))
        pool = None
        if url is not None:
            pool = Pool(url=url, user=text(algo.get("User")) or "", active=True,
                        accepted=count(algo.get("Total_Accepted")) or 0,
                        rejected=count(algo.get("Total_Rejected")) or 0)  # fmt: skip
        streams.append(Stream(algorithm(algo.get("Algorithm")), rate if rate is not None
                              else total(per), per, pool))  # fmt: skip
    first = obj(doc.get("Algorithms", [None])[0]) if streams else {}
    accepted = [count(v) for v in listed(first.get("Worker_Accepted"))]
    rejected = [count(v) for v in listed(first.get("Worker_Rejected"))]
    boards: list[Hashboard] = []
    for i, raw in enumerate(workers):
        w = obj(raw)
        index = count(w.get("Index"))
        slot = index if index is not None else i
        boards.append(
            gpu_board(
                len(boards), software=software, name=text(w.get("Name")),
                hashrate=_at(streams[0].per_gpu, slot) if streams else None,
                temp_chip=temp(w.get("Core_Temp")), temp_mem=temp(w.get("Mem_Temp")),
                power_w=sensor(w.get("Power")), fan_pct=num(w.get("Fan_Speed")),
                clock_core_mhz=num(w.get("CCLK")), clock_mem_mhz=num(w.get("MCLK")),
                accepted=_at(accepted, slot), rejected=_at(rejected, slot),
            )
        )  # fmt: skip
    session = obj(doc.get("Session"))
    uptime = count(session.get("Uptime"))
    return build(make=make, version=version, boards=boards, streams=streams, uptime_s=uptime)


def _legacy(doc: dict[str, Any]) -> Snapshot:
    make, version = split_software(doc.get("Software"), MAKE)
    software = f"{make} {version}" if version else make
    session = obj(doc.get("Session"))
    factor = unit_factor(session.get("Performance_Unit"))
    boards: list[Hashboard] = []
    per: list[float | None] = []
    for raw in listed(doc.get("GPUs")):
        g = obj(raw)
        rate = _scaled(g.get("Performance"), factor)
        per.append(rate)
        acc = count(g.get("Session_Accepted"))
        sub = count(g.get("Session_Submitted"))
        boards.append(
            gpu_board(
                len(boards), software=software, name=text(g.get("Name")), hashrate=rate,
                temp_chip=temp(g.get("Temp (deg C)")), temp_mem=temp(g.get("Mem Temp (deg C)")),
                power_w=sensor(g.get("Consumption (W)")), fan_pct=num(g.get("Fan Speed (%)")),
                accepted=acc,
                rejected=max(0, sub - acc) if sub is not None and acc is not None else None,
            )
        )  # fmt: skip
    stratum = obj(doc.get("Stratum"))
    url = text(stratum.get("Current_Pool"))
    pool = None
    if url is not None:
        acc = count(session.get("Accepted")) or 0
        sub = count(session.get("Submitted")) or 0
        pool = Pool(url=url, user=text(stratum.get("Current_User")) or "", active=True,
                    accepted=acc, rejected=max(0, sub - acc))  # fmt: skip
    rate = _scaled(session.get("Performance_Summary"), factor)
    stream = Stream(algorithm(obj(doc.get("Mining")).get("Algorithm")),
                    rate if rate is not None else total(per), per, pool)  # fmt: skip
    uptime = count(session.get("Uptime"))
    power = sensor(session.get("TotalPower"))
    return build(make=make, version=version, boards=boards, streams=[stream], uptime_s=uptime,
                 power_w=power)  # fmt: skip
