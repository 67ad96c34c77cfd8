"""GMiner ``/stat`` → the canonical :class:`Snapshot`.

``devices[]`` gives one board per card (``name``, ``speed`` in ``speed_unit`` (3.x; H/s, or
Sol/s for Equihash, before), ``temperature``, ``memory_temperature`` (3.x), ``power_usage``,
``fan``, ``core_clock``/``memory_clock`` (3.x), ``accepted_shares``/``rejected_shares``);
the top level gives ``miner`` ("GMiner 3.44"), ``uptime``, ``server``, ``user``,
``algorithm`` and ``total_accepted_shares``/``total_rejected_shares``. Dual mining joins
the two algorithm names with "+" and adds ``server2``/``user2``, ``total_*_shares2`` and
per-device ``speed2``. GMiner reports no pool connection state (see
:func:`hashfleet.drivers.gpu_common.build`).
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

MAKE = "GMiner"


def parse(doc: Any) -> Snapshot:
    """A GMiner ``/stat`` document → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    if not isinstance(doc, dict) or "devices" not in doc:
        raise DeviceReplyInvalid("not a GMiner stat document (no devices)")
    try:
        return _parse(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected GMiner reply: {exc!r}") from exc


def _rate(value: Any, factor: float) -> float | None:
    raw = num(value)
    return round(raw * factor, 2) if raw is not None else None


def _parse(doc: dict[str, Any]) -> Snapshot:
    make, version = split_software(doc.get("miner"), MAKE)
    software = f"{make} {version}" if version else make
    names = [n.strip() for n in (text(doc.get("algorithm")) or "").split("+")]
    devices = [obj(d) for d in listed(doc.get("devices"))]
    streams: list[Stream] = []
    for a, suffix in enumerate(("", "2")):
        if a and not (len(names) > 1 or "speed" + suffix in (devices[0] if devices else {})):
            break
        # speed_unit arrived in 3.x; before, speeds were plain H/s (Sol/s for Equihash).
        unit = doc.get("speed_unit" + suffix)
        factor = (unit_factor(unit) if unit is not None else 1.0) or 1.0
        per = [_rate(d.get("speed" + suffix), factor) for d in devices]
        url = text(doc.get("server" + suffix))
        pool = None
        if url is not None:
            pool = Pool(url=url, user=text(doc.get("user" + suffix)) or "", active=True,
                        accepted=count(doc.get("total_accepted_shares" + suffix)) or 0,
                        rejected=count(doc.get("total_rejected_shares" + suffix)) or 0)  # fmt: skip
        name = names[a] if a < len(names) else None
        streams.append(Stream(algorithm(name), total(per), per, pool))
    boards: list[Hashboard] = []
    for i, d in enumerate(devices):
        boards.append(
            gpu_board(
                i, software=software, name=text(d.get("name")),
                hashrate=streams[0].per_gpu[i] if streams else None,
                temp_chip=temp(d.get("temperature")),
                temp_mem=temp(d.get("memory_temperature")), power_w=sensor(d.get("power_usage")),
                fan_pct=num(d.get("fan")), clock_core_mhz=num(d.get("core_clock")),
                clock_mem_mhz=num(d.get("memory_clock")),
                accepted=count(d.get("accepted_shares")),
                rejected=count(d.get("rejected_shares")),
            )
        )  # fmt: skip
    return build(make=make, version=version, boards=boards, streams=streams,
                 uptime_s=count(doc.get("uptime")))  # fmt: skip
