"""BzMiner ``/status`` → the canonical :class:`Snapshot`.

``devices[]`` gives one board per device: ``vendor`` 1 (NVIDIA) or 2 (AMD) are GPUs, 4 is
the CPU (BzMiner mines a few algorithms on CPUs too); ``hashrate[]``, ``valid_solutions[]``
and ``rejected_solutions[]`` hold one entry per pool the device mines (dual mining: two),
in H/s; ``core_temp``, ``mem_temp`` (0 or -1: no sensor), ``fan`` %, ``power`` W (a
string in v13), ``clock_rate``/``memory_rate`` MHz (v17+). ``pools[]`` gives one stream
per algorithm with its ``url``, ``username``, ``hashrate``, share counters and ``status``
(0 = disconnected). ``uptime_s`` and ``bzminer_version`` ("v21.3.7") are top level.
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
    temp,
    text,
)
from hashfleet.model.snapshot import Hashboard, Pool, Snapshot

MAKE = "BzMiner"
CPU_VENDOR = 4


def parse(doc: Any) -> Snapshot:
    """A ``/status`` document → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    if not isinstance(doc, dict) or "devices" not in doc:
        raise DeviceReplyInvalid("not a BzMiner status (no devices)")
    try:
        return _parse(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected BzMiner reply: {exc!r}") from exc


def _nth(values: Any, i: int) -> Any:
    """Entry ``i`` of a per-pool array (old builds send a bare number)."""
    if isinstance(values, list):
        return values[i] if i < len(values) else None
    return values if i == 0 else None


def _parse(doc: dict[str, Any]) -> Snapshot:
    raw_version = text(doc.get("bzminer_version"))
    version = raw_version.removeprefix("v") if raw_version else None
    software = f"{MAKE} {version}" if version else MAKE
    streams: list[Stream] = []
    connected: list[bool] = []
    for raw in listed(doc.get("pools")):
        p = obj(raw)
        url = text(p.get("url"))
        pool = None
        if url is not None:
            pool = Pool(url=url, user=text(p.get("username")) or text(p.get("wallet")) or "",
                        active=True, accepted=count(p.get("valid_solutions")) or 0,
                        rejected=count(p.get("rejected_solutions")) or 0)  # fmt: skip
        state = num(p.get("status"))
        connected.append(state is None or state > 0)
        streams.append(Stream(algorithm(p.get("algorithm")), num(p.get("hashrate")), [], pool))
    boards: list[Hashboard] = []
    cpus: list[Hashboard] = []
    for raw in listed(doc.get("devices")):
        d = obj(raw)
        rates = [num(r) for r in listed(d.get("hashrate"))] if isinstance(
            d.get("hashrate"), list) else [num(d.get("hashrate"))]  # fmt: skip
        for i, rate in enumerate(rates):
            if i < len(streams):
                streams[i].per_gpu.append(rate)
        board = gpu_board(
            0, software=software, name=text(d.get("name")), hashrate=rates[0] if rates else None,
            temp_chip=temp(d.get("core_temp")), temp_mem=temp(d.get("mem_temp")),
            power_w=num(d.get("power")), fan_pct=num(d.get("fan")),
            clock_core_mhz=num(d.get("clock_rate")), clock_mem_mhz=num(d.get("memory_rate")),
            accepted=count(_nth(d.get("valid_solutions"), 0)),
            rejected=count(_nth(d.get("rejected_solutions"), 0)),
        )  # fmt: skip
        if num(d.get("vendor")) == CPU_VENDOR:
            board.kind = "cpu"
            cpus.append(board)
        else:
            board.index = len(boards)
            boards.append(board)
    for stream in streams:
        if stream.hashrate is None and stream.per_gpu:
            known = [r for r in stream.per_gpu if r is not None]
            stream.hashrate = round(sum(known), 2) if known else None
    pool_alive = False if connected and not any(connected) else None
    snap = build(make=MAKE, version=version, boards=boards, streams=streams,
                 uptime_s=count(doc.get("uptime_s")), pool_alive=pool_alive)  # fmt: skip
    for cpu in cpus:
        cpu.index = len(snap.stats.hashboards)
        snap.stats.hashboards.append(cpu)
    snap.config.hostname = text(doc.get("rig_name"))
    return snap
