"""Family name → simulator plug-in; the one place a simulated family is plugged in.

A family's simulator module exports ``FAMILY``, a :class:`SimFamily` saying how to build
one simulated device and which host serves many of them (one TCP listener per device, or
one shared HTTP server with a listener per address). Family names are the drivers' names,
so a farm device's ``thing_opts()`` is what ``registerThing`` takes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hashfleet.sim.base import Clock, SimDevice


class SimHost(Protocol):
    """Serves many simulated devices of one family."""

    async def add(self, sim: SimDevice) -> None:
        """Start serving ``sim`` (open its listeners); raises ``OSError`` if taken."""
        ...

    async def close(self) -> None:
        """Stop serving every device added."""
        ...


class SimFactory(Protocol):
    """Builds one simulated device."""

    def __call__(self, address: str, *, seed: int, clock: Clock, model: str | None) -> SimDevice:
        """A device on ``address`` whose values derive from ``seed``; ``model`` a variant."""
        ...


@dataclass(frozen=True, slots=True)
class SimFamily:
    """How a farm builds and serves the simulated devices of one family."""

    family: str
    models: tuple[str, ...]  # the variants; a farm cycles through them
    create: SimFactory
    host: Callable[[], SimHost]


# Families the farm builds itself, with their own options (Farm(antminers=…, xmrigs=…)).
FARM_BUILT_IN = ("antminer", "xmrig")

# Family → "module:attribute" of its SimFamily, imported on first use.
_MODULES: dict[str, str] = {
    "whatsminer": "hashfleet.sim.whatsminer:FAMILY",
    "avalon": "hashfleet.sim.avalon:FAMILY",
    "braiins": "hashfleet.sim.braiins:FAMILY",
    "luxos": "hashfleet.sim.luxos:FAMILY",
    "vnish": "hashfleet.sim.vnish:FAMILY",
    "iceriver": "hashfleet.sim.iceriver:FAMILY",
    "lolminer": "hashfleet.sim.lolminer:FAMILY",
    "trex": "hashfleet.sim.trex:FAMILY",
    "gminer": "hashfleet.sim.gminer:FAMILY",
    "bzminer": "hashfleet.sim.bzminer:FAMILY",
    "srbminer": "hashfleet.sim.srbminer:FAMILY",
    "teamredminer": "hashfleet.sim.teamredminer:FAMILY",
    "pool_account": "hashfleet.sim.pool_account:FAMILY",
    "chia": "hashfleet.sim.chia:FAMILY",
    "modbus_meter": "hashfleet.sim.modbus_meter:FAMILY",
    "modbus_sensor": "hashfleet.sim.modbus_sensor:FAMILY",
    "container": "hashfleet.sim.container:FAMILY",
}


def register(family: str, target: str) -> None:
    """Make ``family`` available from ``"package.module:ATTR"``."""
    _MODULES[family] = target


def sim_families() -> list[str]:
    """Names of the families that have a simulator."""
    return sorted(_MODULES)


def sim_family(name: str) -> SimFamily:
    """The plug-in of ``name``; ``ValueError`` for an unknown family."""
    try:
        target = _MODULES[name]
    except KeyError:
        known = ", ".join(sim_families())
        raise ValueError(f"no simulator for family {name!r} (known: {known})") from None
    module, _, attr = target.partition(":")
    found: SimFamily = getattr(importlib.import_module(module), attr)
    return found
