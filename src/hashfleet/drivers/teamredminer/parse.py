"""TeamRedMiner API replies (``summary``, ``devs``, ``pools``, ``version``) → the canonical
:class:`Snapshot`.

``devs`` has one row per GPU (``GPU``, ``Status`` Alive/Sick/Dead, ``Temperature``,
``TemperatureMem`` (0.9+), ``Fan Percent``, ``GPU Clock``, ``Memory Clock``, ``GPU Power``
(0.9+), ``MHS 5s`` — or ``KHS 5s``/``GHS 5s``/``HS 5s`` depending on the algorithm —,
``Accepted``, ``Rejected``). ``summary`` gives ``Elapsed`` and the rig's 5 s hashrate in
the same units, ``pools`` the pool rows (``URL``, ``User``, ``Status``, ``Algorithm``),
``version`` ``{"TeamRedMiner": "0.10.21"}`` (0.8: ``{"CGMiner": …}``).
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

MAKE = "TeamRedMiner"
_UNITS = (("GHS", 1e9), ("MHS", 1e6), ("KHS", 1e3), ("HS", 1.0))


def section(reply: Any, name: str) -> list[Any]:
    """The rows of section ``name`` (``"DEVS"``) of one command's reply."""
    rows = obj(reply).get(name)
    return listed(rows)


def rate(row: dict[str, Any], window: str = "5s") -> float | None:
    """A row's hashrate in H/s from whichever unit column it has (``MHS 5s``…)."""
    for unit, factor in _UNITS:
        value = num(row.get(f"{unit} {window}"))
        if value is not None:
            return round(value * factor, 2)
    return None


def parse(summary: Any, devs: Any, pools: Any, version: Any = None) -> Snapshot:
    """The four replies → snapshot; bad shapes raise ``DeviceReplyInvalid``."""
    if not isinstance(devs, dict) or "DEVS" not in devs:
        raise DeviceReplyInvalid("not a TeamRedMiner devs reply (no DEVS)")
    try:
        return _parse(summary, devs, pools, version)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DeviceReplyInvalid(f"unexpected TeamRedMiner reply: {exc!r}") from exc


def _version(version: Any) -> str | None:
    rows = section(version, "VERSION") if version is not None else []
    row = obj(rows[0]) if rows else {}
    value = row.get("TeamRedMiner", row.get("CGMiner"))
    if value is None:
        # Some builds only say it in the STATUS description: "TeamRedMiner 0.10.21".
        status = listed(obj(version).get("STATUS")) if version is not None else []
        desc = text(obj(status[0]).get("Description")) if status else None
        if desc and desc.startswith(MAKE):
            value = desc[len(MAKE) :].strip() or None
    return text(value)


def _parse(summary: Any, devs: Any, pools: Any, version: Any) -> Snapshot:
    ver = _version(version)
    software = f"{MAKE} {ver}" if ver else MAKE
    boards: list[Hashboard] = []
    dead_status = False
    for raw in section(devs, "DEVS"):
        d = obj(raw)
        status = text(d.get("Status"))
        dead_status |= status in ("Dead", "Sick")
        boards.append(
            gpu_board(
                len(boards), software=software, name=f"GPU {count(d.get('GPU')) or len(boards)}",
                hashrate=rate(d), temp_chip=temp(d.get("Temperature")),
                temp_mem=temp(d.get("TemperatureMem")), power_w=num(d.get("GPU Power")),
                fan_pct=num(d.get("Fan Percent")), clock_core_mhz=num(d.get("GPU Clock")),
                clock_mem_mhz=num(d.get("Memory Clock")), accepted=count(d.get("Accepted")),
                rejected=count(d.get("Rejected")),
            )
        )  # fmt: skip
    pool_rows = [obj(p) for p in section(pools, "POOLS")] if pools is not None else []
    pool_list: list[Pool] = []
    algo: str | None = None
    for i, p in enumerate(pool_rows):
        url = text(p.get("URL"))
        if url is None:
            continue
        algo = algo or algorithm(p.get("Algorithm"))
        pool_list.append(Pool(url=url, user=text(p.get("User")) or "",
                              alive=text(p.get("Status")) == "Alive", active=i == 0,
                              accepted=count(p.get("Accepted")) or 0,
                              rejected=count(p.get("Rejected")) or 0))  # fmt: skip
    sums = section(summary, "SUMMARY") if summary is not None else []
    srow = obj(sums[0]) if sums else {}
    total = rate(srow)
    stream = Stream(algo, total, [b.hashrate for b in boards],
                    pool_list[0] if pool_list else None)  # fmt: skip
    own = [p.alive for p in pool_list]  # each row's own Status, before build() sets them
    pool_alive = any(own) if pool_list else None
    snap = build(make=MAKE, version=ver, boards=boards, streams=[stream],
                 uptime_s=count(srow.get("Elapsed")), pool_alive=pool_alive)  # fmt: skip
    # build() lists only the stream's pool; show every configured one, with its state.
    for listed_pool, alive in zip(pool_list, own, strict=True):
        listed_pool.alive = alive
        if listed_pool is not stream.pool:
            snap.stats.pools.append(listed_pool)
    if dead_status and "ERR_HASHBOARD_DEAD" not in snap.stats.errors:
        snap.stats.errors.append("ERR_HASHBOARD_DEAD")
    return snap
