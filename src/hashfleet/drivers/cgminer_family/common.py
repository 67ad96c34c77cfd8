"""Shared pieces of the cgminer-family drivers: section access, numbers, pools, errors.

Every helper raises ``DeviceReplyInvalid`` (or a plain ``ValueError``/``TypeError`` that
:func:`guarded` turns into one) for a reply of the wrong shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.base import PoolTarget
from hashfleet.drivers.common.cgminer import CgminerClient
from hashfleet.model.snapshot import Fan, Hashboard, Pool, Snapshot

ERR_HASHBOARD_DEAD = "ERR_HASHBOARD_DEAD"
ERR_OVERHEAT = "ERR_OVERHEAT"
ERR_POOL_DOWN = "ERR_POOL_DOWN"
OVERHEAT_C = 90.0


def guarded(what: str, fn: Callable[[], Snapshot]) -> Snapshot:
    """``fn()``, with every shape error of a reply turned into ``DeviceReplyInvalid``."""
    try:
        return fn()
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise DeviceReplyInvalid(f"unexpected {what} reply: {exc!r}") from exc


def section(reply: dict[str, Any], command: str, name: str) -> list[dict[str, Any]]:
    """``reply[command][0][name]`` of a joined reply; ``[]`` when the command is absent."""
    part = reply.get(command)
    if part is None:
        return []
    if not isinstance(part, list) or not part or not isinstance(part[0], dict):
        raise DeviceReplyInvalid(f"{command}: not a one-element list of objects")
    rows = part[0].get(name, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DeviceReplyInvalid(f"{command}: {name} is not a list of objects")
    return rows


def num(value: Any) -> float | None:
    """A number that may come as a string; ``None``/empty/bool means not reported.

    Raises ``ValueError`` for infinity or NaN, as for text that is not a number
    (:func:`guarded` turns either into ``DeviceReplyInvalid``).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = float(text)
    else:
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def pools_from_rows(rows: list[dict[str, Any]]) -> list[Pool]:
    """cgminer ``POOLS`` rows → pools."""
    return [
        Pool(
            url=str(row.get("URL", "")),
            user=str(row.get("User", "")),
            alive=row.get("Status") == "Alive",
            active=row.get("Stratum Active") in (True, "true", "Y"),
            accepted=int(num(row.get("Accepted")) or 0),
            rejected=int(num(row.get("Rejected")) or 0),
        )
        for row in rows
    ]


def fans_from_rows(rows: list[dict[str, Any]]) -> list[Fan]:
    """``FANS`` rows (``ID``, ``RPM``) → fans."""
    return [
        Fan(index=int(num(row.get("ID", n)) or 0), rpm=int(num(row.get("RPM")) or 0))
        for n, row in enumerate(rows)
    ]


def errors_of(boards: list[Hashboard], temp_max: float | None, pools: list[Pool]) -> list[str]:
    """The ERR_* codes the readings show."""
    errors = []
    if any(not b.ok for b in boards):
        errors.append(ERR_HASHBOARD_DEAD)
    if temp_max is not None and temp_max >= OVERHEAT_C:
        errors.append(ERR_OVERHEAT)
    if pools and not any(p.alive for p in pools):
        errors.append(ERR_POOL_DOWN)
    return errors


def escape(value: str) -> str:
    """cgminer splits parameters on commas: escape literal commas and backslashes."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


async def replace_pools(
    client: CgminerClient, pools: Sequence[PoolTarget], prefix: Callable[[], Any] | None = None
) -> None:
    """Make ``pools`` the running pools with ``addpool``, ``switchpool``, ``removepool``.

    ``prefix`` returns an awaitable of the text put before each write's parameter (LuxOS's
    session id and a comma); a no-op when the pools already are ``pools``.
    """
    if not pools:
        raise ValueError("set_pools needs at least one pool")
    reply = await client.request("pools")
    rows = reply.get("POOLS", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DeviceReplyInvalid("pools: POOLS is not a list of objects")
    if [(r.get("URL"), r.get("User")) for r in rows] == [(p.url, p.user) for p in pools]:
        return
    head = "" if prefix is None else await prefix()

    async def write(command: str, param: str) -> None:
        await client.request(command, head + param, write=True)

    first_new = len(rows)
    for pool in pools:
        await write("addpool", ",".join(escape(v) for v in (pool.url, pool.user, pool.password)))
    # Mine on the first new pool before removing the old ones: the active pool cannot be
    # removed. switchpool also puts it first in priority.
    await write("switchpool", str(first_new))
    for n in reversed(range(first_new)):
        await write("removepool", str(n))
