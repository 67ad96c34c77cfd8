"""XMRig API documents → the canonical :class:`Snapshot`.

``GET /2/summary`` feeds the totals, pool and identity; ``GET /2/backends`` (optional)
feeds one hashboard per mining device: the CPU backend as one, each enabled GPU (OpenCL,
CUDA) thread with its ``health`` (temperature, power, fans). Each field below names its
source.
"""

from __future__ import annotations

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

MAKE = "XMRig"
OVERHEAT_C = 90.0
ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"

# Algorithm family → coin it is (almost always) mined for.
COINS = {
    "rx/0": "XMR",
    "rx/wow": "WOW",
    "rx/arq": "ARQ",
    "rx/graft": "GRFT",
    "rx/sfx": "SFX",
    "rx/yada": "YDA",
    "ghostrider": "RTM",
    "argon2/chukwav2": "TRTL",
    "cn/upx2": "UPX",
}


def parse(summary: Any, backends: Any = None) -> Snapshot:
    """Summary (and backends, if fetched) → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    try:
        return _parse(summary, backends)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise DeviceReplyInvalid(f"unexpected XMRig reply: {exc!r}") from exc


def _parse(summary: Any, backends: Any) -> Snapshot:
    if not isinstance(summary, dict) or not isinstance(summary.get("hashrate"), dict):
        raise DeviceReplyInvalid("summary is not an XMRig summary object")
    # summary: hashrate.total [10 s, 60 s, 15 m]; the 10 s window is null right after start
    hashrate = _window(summary["hashrate"].get("total"))
    # summary: algo ("rx/0"), mapped to a coin
    algo = summary.get("algo")
    algorithm = str(algo) if algo else None
    # summary: connection {pool, ip, uptime, accepted, rejected}
    pools = _pools(summary.get("connection"))
    # backends: one board per mining device (see module docstring)
    boards, fans, power = _devices(backends) if backends is not None else ([], [], None)
    temps = [b.temp_chip for b in boards if b.temp_chip is not None]
    temp_max = max(temps) if temps else None
    # summary: paused (pause over JSON-RPC) → sleeping
    paused = summary.get("paused") is True
    errors = []
    if any(not b.ok for b in boards) and not paused:
        errors.append(ERR_HASHBOARD_DEAD)
    if temp_max is not None and temp_max >= OVERHEAT_C:
        errors.append(ERR_OVERHEAT)
    if pools and not any(p.alive for p in pools):
        errors.append(ERR_POOL_DOWN)
    uptime = summary.get("uptime")
    stats = MinerStats(
        status=STATUS_SLEEPING if paused else STATUS_ONLINE,
        hashrate=hashrate,
        algorithm=algorithm,
        coin=COINS.get(algorithm or ""),
        power_w=power,
        temp_max=temp_max,
        uptime_s=int(uptime) if uptime is not None else None,
        hashboards=boards,
        fans=fans,
        pools=pools,
        errors=errors,
    )
    # summary: version, cpu.brand, worker_id (the host name unless configured)
    cpu = summary.get("cpu")
    config = MinerConfig(
        make=MAKE,
        model=str(cpu["brand"]) if isinstance(cpu, dict) and cpu.get("brand") else None,
        firmware=str(summary["version"]) if summary.get("version") else None,
        hostname=str(summary["worker_id"]) if summary.get("worker_id") else None,
    )
    return Snapshot(stats=stats, config=config)


def _window(values: Any) -> float | None:
    """First non-null of [10 s, 60 s, 15 m] hashrate windows (H/s)."""
    if values is None:
        return None
    if not isinstance(values, list):
        raise TypeError("hashrate windows are not a list")
    for value in values[:2]:
        if value is not None:
            return float(value)
    return None


def _pools(conn: Any) -> list[Pool]:
    if not isinstance(conn, dict) or not conn.get("pool"):
        return []
    # XMRig counts connection time only while connected; uptime_ms (6.x) also covers the
    # first second after a reconnect, when uptime is still 0.
    up_ms = conn.get("uptime_ms")
    alive = int(up_ms if up_ms is not None else (conn.get("uptime") or 0) * 1000) > 0
    return [
        Pool(
            url=str(conn["pool"]),
            alive=alive,
            active=True,
            accepted=int(conn.get("accepted") or 0),
            rejected=int(conn.get("rejected") or 0),
        )
    ]


def _devices(backends: Any) -> tuple[list[Hashboard], list[Fan], float | None]:
    if not isinstance(backends, list):
        raise DeviceReplyInvalid("backends is not a list")
    boards: list[Hashboard] = []
    fans: list[Fan] = []
    power = 0.0
    has_power = False
    for backend in backends:
        if not backend.get("enabled"):
            continue
        threads = backend.get("threads") or []
        if backend.get("type") == "cpu":
            # backends: cpu hashrate [10 s, 60 s, 15 m]; a stalled thread hashes 0
            # A device is dead when some of its threads stall while others hash; all idle
            # means no job (pool down, paused), which is not a hardware fault.
            rates = [_window(t.get("hashrate")) for t in threads]
            stalled = any(r is not None and r <= 0 for r in rates)
            ok = not (stalled and any(r is not None and r > 0 for r in rates))
            boards.append(
                Hashboard(index=len(boards), hashrate=_window(backend.get("hashrate")), ok=ok)
            )
            continue
        for thread in threads:
            # backends: GPU threads carry health {temperature, power, fan_speed[]}
            health = thread.get("health") or {}
            rate = _window(thread.get("hashrate"))
            temp = health.get("temperature")
            boards.append(
                Hashboard(
                    index=len(boards),
                    hashrate=rate,
                    temp_chip=float(temp) if temp is not None else None,
                    ok=rate is None or rate > 0,
                )
            )
            if health.get("power") is not None:
                power += float(health["power"])
                has_power = True
            for speed in health.get("fan_speed") or []:
                fans.append(Fan(index=len(fans), rpm=int(speed)))
    return boards, fans, power if has_power else None


def has_gpu_backend(backends: Any) -> bool:
    """Whether ``/2/backends`` lists an enabled OpenCL or CUDA backend."""
    if not isinstance(backends, list):
        return False
    return any(
        isinstance(b, dict) and b.get("enabled") and b.get("type") != "cpu" for b in backends
    )


def cpu_backends_from_summary(summary: Any) -> list[dict[str, Any]] | None:
    """The CPU backend as ``/2/backends`` would list it, from ``/2/summary`` alone
    (``hashrate.total`` and ``hashrate.threads``); ``None`` when the summary has no threads."""
    rates = summary.get("hashrate") if isinstance(summary, dict) else None
    threads = rates.get("threads") if isinstance(rates, dict) else None
    if not isinstance(threads, list) or not threads:
        return None
    return [
        {
            "type": "cpu",
            "enabled": True,
            "hashrate": rates.get("total") if isinstance(rates, dict) else None,
            "threads": [{"hashrate": t} for t in threads],
        }
    ]
