"""SRBMiner-MULTI stats (``GET /``) → the canonical :class:`Snapshot`.

``algorithms[]`` are what the miner mines at once, on GPUs and/or the CPU: each has a
``name``, ``hashrate.gpu`` (``total`` and ``gpu0``, ``gpu1``… in H/s), ``hashrate.cpu``
(``total``, ``thread0``…), ``pool`` (``pool`` URL, ``user``, ``uptime`` of the connection,
0 while disconnected), ``shares`` and per-GPU ``gpu_accepted_shares``/
``gpu_rejected_shares``. ``gpu_devices[]`` has the sensors (``temperature``,
``temperature_memory`` (2.x), ``fan_speed_percent`` (2.x) or only ``fan_speed_rpm``
(0.9), ``power``, ``core_clock``, ``memory_clock``); ``cpu_devices[]`` the CPU's
``temperature`` and ``power``. Each algorithm becomes a stream; each GPU a ``gpu`` board
and a mining CPU a ``cpu`` board.
"""

from __future__ import annotations

from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.gpu_common import (
    ERR_OVERHEAT,
    OVERHEAT_C,
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

MAKE = "SRBMiner-MULTI"
CPU_COINS = {"randomx": "XMR", "ghostrider": "RTM", "verushash": "VRSC", "yespower": "YTN"}


def parse(doc: Any) -> Snapshot:
    """A stats document → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    if not isinstance(doc, dict) or "algorithms" not in doc:
        raise DeviceReplyInvalid("not an SRBMiner stats document (no algorithms)")
    try:
        return _parse(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected SRBMiner reply: {exc!r}") from exc


def _indexed(section: dict[str, Any], prefix: str) -> dict[int, float | None]:
    """``{"gpu0": 1.0, "gpu1": 2.0, "total": 3.0}`` → ``{0: 1.0, 1: 2.0}``."""
    out: dict[int, float | None] = {}
    for key, value in section.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            out[int(key[len(prefix) :])] = num(value)
    return out


class _Algo:
    """One entry of ``algorithms[]``, read."""

    def __init__(self, raw: Any) -> None:
        a = obj(raw)
        rates = obj(a.get("hashrate"))
        gpu, cpu = obj(rates.get("gpu")), obj(rates.get("cpu"))
        self.name = algorithm(a.get("name"))
        self.per_gpu = _indexed(gpu, "gpu")
        self.gpu_total = num(gpu.get("total"))
        self.cpu_total = num(cpu.get("total"))
        self.cpu_threads = _indexed(cpu, "thread")
        self.accepted_by_gpu = {k: count(v) for k, v in _indexed(
            obj(a.get("gpu_accepted_shares")), "gpu").items()}  # fmt: skip
        self.rejected_by_gpu = {k: count(v) for k, v in _indexed(
            obj(a.get("gpu_rejected_shares")), "gpu").items()}  # fmt: skip
        p, shares = obj(a.get("pool")), obj(a.get("shares"))
        url = text(p.get("pool"))
        self.pool = None if url is None else Pool(
            url=url, user=text(p.get("user")) or "", active=True,
            accepted=count(shares.get("accepted")) or 0,
            rejected=count(shares.get("rejected")) or 0,
        )  # fmt: skip
        self.pool_uptime = num(p.get("uptime"))

    @property
    def on_gpu(self) -> bool:
        return bool(self.per_gpu) or bool(self.gpu_total)

    @property
    def on_cpu(self) -> bool:
        return bool(self.cpu_threads) or bool(self.cpu_total)

    def stream(self) -> Stream:
        parts = [v for v in (self.gpu_total, self.cpu_total) if v is not None]
        total = round(sum(parts), 2) if parts else None
        return Stream(self.name, total, list(self.per_gpu.values()), self.pool)


def _parse(doc: dict[str, Any]) -> Snapshot:
    version = text(doc.get("miner_version"))
    software = f"{MAKE} {version}" if version else MAKE
    algos = [_Algo(raw) for raw in listed(doc.get("algorithms"))]
    # GPU algorithms first: the primary stream is what the cards mine.
    ordered = [a for a in algos if a.on_gpu] + [a for a in algos if not a.on_gpu]
    first_gpu = next((a for a in ordered if a.on_gpu), None)
    boards: list[Hashboard] = []
    for raw in listed(doc.get("gpu_devices")):
        g = obj(raw)
        i = count(g.get("id"))
        i = len(boards) if i is None else i
        rpm_only = g.get("fan_speed_percent") is None
        boards.append(
            gpu_board(
                len(boards), software=software, name=text(g.get("model")),
                hashrate=first_gpu.per_gpu.get(i) if first_gpu else None,
                temp_chip=temp(g.get("temperature")), temp_mem=temp(g.get("temperature_memory")),
                power_w=num(g.get("power")),
                # 0.9 reports only RPM, which is not a percentage: leave the fan unknown.
                fan_pct=None if rpm_only else num(g.get("fan_speed_percent")),
                clock_core_mhz=num(g.get("core_clock")), clock_mem_mhz=num(g.get("memory_clock")),
                accepted=first_gpu.accepted_by_gpu.get(i) if first_gpu else None,
                rejected=first_gpu.rejected_by_gpu.get(i) if first_gpu else None,
            )
        )  # fmt: skip
    uptime = count(doc.get("mining_time"))
    pool_alive = None
    known = [a.pool_uptime for a in ordered if a.pool is not None]
    if known and all(u is not None and u <= 0 for u in known) and (uptime or 0) > 60:
        pool_alive = False  # every pool connection is down past the start-up
    snap = build(make=MAKE, version=version, boards=boards,
                 streams=[a.stream() for a in ordered], uptime_s=uptime,
                 pool_alive=pool_alive)  # fmt: skip
    stats = snap.stats
    cpus = listed(doc.get("cpu_devices"))
    cpu_algo = next((a for a in ordered if a.on_cpu), None)
    for stream in stats.streams:
        stream.coin = stream.coin or CPU_COINS.get(stream.algorithm or "")
        if cpu_algo is not None and stream.algorithm == cpu_algo.name and not cpu_algo.on_gpu:
            stream.power_w = num(obj(cpus[0]).get("power")) if cpus else None
    if cpu_algo is not None and cpus:
        c = obj(cpus[0])
        board = Hashboard(
            index=len(stats.hashboards), kind="cpu", name=text(c.get("model")),
            software=software, hashrate=cpu_algo.cpu_total,
            temp_chip=temp(c.get("temperature")), power_w=num(c.get("power")),
        )  # fmt: skip
        stats.hashboards.append(board)
        if board.temp_chip is not None:
            stats.temp_max = max(stats.temp_max or board.temp_chip, board.temp_chip)
            if board.temp_chip >= OVERHEAT_C and ERR_OVERHEAT not in stats.errors:
                stats.errors.append(ERR_OVERHEAT)
    total_power = num(doc.get("total_power"))
    if total_power is not None:
        stats.power_w = total_power
    elif cpu_algo is not None and cpus and stats.hashboards[-1].power_w is not None:
        # 0.9 has no total: the cards' sum (from build) plus the CPU's own reading.
        gpu_power = stats.power_w or 0.0
        stats.power_w = round(gpu_power + (stats.hashboards[-1].power_w or 0.0), 2)
    snap.config.hostname = text(doc.get("rig_name"))
    return snap
