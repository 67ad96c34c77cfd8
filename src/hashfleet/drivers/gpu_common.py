"""What the GPU mining-software drivers share: lenient numbers, units, algorithm names,
per-GPU hashboards and the health rules that turn readings into ``ERR_*`` codes.

GPU programs report through loosely typed JSON (numbers as strings in some versions,
``null`` for a card still building its DAG), so the helpers here accept those and raise
``ValueError``/``TypeError`` for anything else; each parser turns those into
``DeviceReplyInvalid``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.model.snapshot import (
    STATUS_ONLINE,
    STATUS_SLEEPING,
    Hashboard,
    HashStream,
    MinerConfig,
    MinerStats,
    Pool,
    Snapshot,
)

ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"
OVERHEAT_C = 90.0  # GPU core; NVIDIA starts slowing down at 90-93 °C
OVERHEAT_MEM_C = 110.0  # GDDR6X junction throttles at 110 °C; 100 °C is normal for it
WARMUP_S = 60  # a program younger than this may still be building its DAG

_EMPTY = frozenset({"", "-", "n/a", "na", "none", "null"})
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}
_SPACE = re.compile(r"[\s_\-/.]+")

# Spellings the programs use (squashed: lower case, no spaces, "_", "-", "/", ".") →
# the canonical algorithm name.
ALGORITHMS: dict[str, str] = {
    "etchash": "etchash", "etc": "etchash", "ethash": "ethash", "eth": "ethash",
    "daggerhashimoto": "ethash", "kawpow": "kawpow", "rvn": "kawpow",
    "autolykos": "autolykos2", "autolykos2": "autolykos2", "autolykosv2": "autolykos2",
    "ergo": "autolykos2", "kheavyhash": "kheavyhash", "heavyhash": "kheavyhash",
    "kaspa": "kheavyhash", "kas": "kheavyhash", "equihash1254": "equihash125_4",
    "equi1254": "equihash125_4", "zelhash": "equihash125_4", "flux": "equihash125_4",
    "equihash1445": "equihash144_5", "equi1445": "equihash144_5",
    "equihash2109": "equihash210_9", "equi2109": "equihash210_9", "octopus": "octopus",
    "cfx": "octopus", "beamhashiii": "beamhash3", "beamiii": "beamhash3", "beam3": "beamhash3",
    "beamhash3": "beamhash3", "firopow": "firopow", "karlsenhash": "karlsenhash",
    "pyrinhash": "pyrinhash", "sha512256d": "sha512256d", "radiant": "sha512256d",
    "blake3": "blake3", "alph": "blake3", "nexapow": "nexapow", "nexa": "nexapow",
    "fishhash": "fishhash", "ironfish": "fishhash", "progpow": "progpow",
}  # fmt: skip
# Algorithm → coin it is (almost only) mined for; ethash and equihash144_5 serve several.
COINS: dict[str, str] = {
    "etchash": "ETC", "kawpow": "RVN", "autolykos2": "ERG", "kheavyhash": "KAS",
    "equihash125_4": "FLUX", "octopus": "CFX", "beamhash3": "BEAM", "firopow": "FIRO",
    "karlsenhash": "KLS", "pyrinhash": "PYI", "sha512256d": "RXD", "blake3": "ALPH",
    "nexapow": "NEXA", "fishhash": "IRON",
}  # fmt: skip


_decoder = msgspec.json.Decoder()


def decode(raw: bytes) -> Any:
    """A reply body as JSON; ``DeviceReplyInvalid`` when it is not.

    Invalid UTF-8 inside a JSON string raises ``UnicodeDecodeError`` from msgspec, which
    is not a ``DecodeError``; both mean the same here.
    """
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DeviceReplyInvalid(f"reply is not JSON: {exc}") from exc


def num(value: Any) -> float | None:
    """A reported number (int, float or numeric string) as float; ``None``/"n/a" → None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in _EMPTY:
            return None
        out = float(text)
    else:
        raise TypeError(f"{value!r} is not a number")
    # NaN/inf are what a program shows for a sensor it could not read.
    return out if math.isfinite(out) else None


def sensor(value: Any) -> float | None:
    """A reported temperature or power; 0 or below is what the programs show for a missing
    sensor (GDDR6 cards have no memory-temperature sensor; a running card never draws 0 W)."""
    out = num(value)
    return out if out is not None and out > 0 else None


temp = sensor


def count(value: Any) -> int | None:
    """A reported counter as a non-negative int; ``None`` → None."""
    out = num(value)
    if out is None:
        return None
    if out < 0:
        raise ValueError(f"negative counter {value!r}")
    return int(out)


def text(value: Any) -> str | None:
    """A reported string; empty → None; numbers are accepted, containers are not."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise TypeError(f"{value!r} is not a string")
    out = str(value).strip()
    return out or None


def listed(value: Any) -> list[Any]:
    """A reported array (``None`` → empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{value!r} is not a list")
    return value


def obj(value: Any) -> dict[str, Any]:
    """A reported object (``None`` → empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{value!r} is not an object")
    return value


def unit_factor(unit: Any) -> float | None:
    """Multiplier from a reported unit to H/s (or Sol/s, G/s): "Mh/s" → 1e6, "Sol/s" → 1.

    Prefixes are decimal and case-insensitive: lolMiner's "mh/s" is mega, never milli.
    Unknown units give ``None`` (the hashrate is then not reported).
    """
    name = text(unit)
    if name is None:
        return None
    squashed = name.lower().replace(" ", "")
    if squashed.endswith("/s"):
        squashed = squashed[:-2]
    for base in ("sol", "hash", "h", "g"):
        if squashed.endswith(base):
            prefix = squashed[: -len(base)]
            if prefix in _PREFIX:
                return _PREFIX[prefix]
    return None


def algorithm(raw: Any) -> str | None:
    """A program's algorithm name → canonical lower-case name (unknown: squashed as is)."""
    name = text(raw)
    if name is None:
        return None
    squashed = _SPACE.sub("", name.lower())
    return ALGORITHMS.get(squashed, squashed)


def coin(algo: str | None) -> str | None:
    """The coin an algorithm implies, if only one is mined with it."""
    return COINS.get(algo or "")


def gpu_board(
    index: int,
    *,
    software: str | None,
    name: str | None = None,
    hashrate: float | None = None,
    temp_chip: float | None = None,
    temp_mem: float | None = None,
    power_w: float | None = None,
    fan_pct: float | None = None,
    clock_core_mhz: float | None = None,
    clock_mem_mhz: float | None = None,
    accepted: int | None = None,
    rejected: int | None = None,
) -> Hashboard:
    """One GPU as a hashboard (``kind="gpu"``); ``ok`` is decided by :func:`build`."""
    return Hashboard(index=index, kind="gpu", name=name, software=software, hashrate=hashrate,
                     temp_chip=temp_chip, temp_mem=temp_mem, power_w=power_w, fan_pct=fan_pct,
                     clock_core_mhz=clock_core_mhz, clock_mem_mhz=clock_mem_mhz,
                     accepted=accepted, rejected=rejected)  # fmt: skip


@dataclass(slots=True)
class Stream:
    """One algorithm a program mines: total, per-GPU hashrates (H/s) and its pool."""

    algorithm: str | None
    hashrate: float | None
    per_gpu: list[float | None] = field(default_factory=list)
    pool: Pool | None = None


def build(
    *,
    make: str,
    version: str | None,
    boards: list[Hashboard],
    streams: list[Stream],
    uptime_s: int | None,
    paused: bool = False,
    pool_alive: bool | None = None,
    power_w: float | None = None,
) -> Snapshot:
    """The snapshot of a GPU program from what its parser read.

    ``pool_alive`` is what the program says about its pool connection; ``None`` when it
    does not say, and then a pool counts as down when every GPU idles at 0 H/s past the
    warm-up (the programs stop hashing when they lose the pool's job). A GPU at 0 H/s while
    others hash is dead.
    """
    software = f"{make} {version}" if version else make
    primary = streams[0] if streams else Stream(None, None)
    rates = [b.hashrate for b in boards]
    known = [r for r in rates if r is not None]
    warm = uptime_s is None or uptime_s >= WARMUP_S
    idle = bool(known) and all(r <= 0 for r in known)
    if pool_alive is None:
        pool_alive = not (idle and warm and not paused)
    errors: list[str] = []
    hashing = any(r > 0 for r in known)
    for board in boards:
        # A card still building its DAG (young program) hashes 0 without being dead.
        board.ok = not (warm and hashing and board.hashrate is not None and board.hashrate <= 0)
    if any(not b.ok for b in boards) and not paused:
        errors.append(ERR_HASHBOARD_DEAD)
    temps = [b.temp_chip for b in boards if b.temp_chip is not None]
    mems = [b.temp_mem for b in boards if b.temp_mem is not None]
    temp_max = max(temps) if temps else None
    if (temp_max is not None and temp_max >= OVERHEAT_C) or (mems and max(mems) >= OVERHEAT_MEM_C):
        errors.append(ERR_OVERHEAT)
    pools = [s.pool for s in streams if s.pool is not None]
    for pool in pools:
        pool.alive = pool_alive
    if not pool_alive and not paused:
        errors.append(ERR_POOL_DOWN)
    if power_w is None:
        powers = [b.power_w for b in boards if b.power_w is not None]
        power_w = round(sum(powers), 2) if powers else None
    hash_streams = [
        HashStream(software=software, algorithm=s.algorithm, coin=coin(s.algorithm),
                   hashrate=s.hashrate, power_w=power_w if i == 0 else None)
        for i, s in enumerate(streams)
    ]  # fmt: skip
    stats = MinerStats(
        status=STATUS_SLEEPING if paused else STATUS_ONLINE,
        hashrate=primary.hashrate,
        algorithm=primary.algorithm,
        coin=coin(primary.algorithm),
        power_w=power_w,
        temp_max=temp_max,
        uptime_s=uptime_s,
        hashboards=boards,
        pools=pools,
        errors=errors,
        streams=hash_streams,
    )
    config = MinerConfig(make=make, firmware=version, software=software)
    return Snapshot(stats=stats, config=config)


def split_software(value: Any, default: str) -> tuple[str, str | None]:
    """ "lolMiner 1.88" → ("lolMiner", "1.88"); a bare version → (default, version)."""
    name = text(value)
    if name is None:
        return default, None
    head, _, tail = name.rpartition(" ")
    if head and tail[:1].isdigit():
        return head, tail
    if name[:1].isdigit():
        return default, name
    return name, None


def total(values: list[float | None]) -> float | None:
    """Sum of per-GPU values, ``None`` when none is known."""
    known = [v for v in values if v is not None]
    return round(sum(known), 2) if known else None
