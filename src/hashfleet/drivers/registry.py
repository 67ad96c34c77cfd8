"""Family name → driver class; the one place a new family is plugged in."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from hashfleet.core.errors import BadRequest
from hashfleet.drivers.base import Driver, DriverOptions

DriverFactory = Callable[[DriverOptions], Driver]

_FACTORIES: dict[str, DriverFactory] = {}


def register(family: str, factory: DriverFactory) -> None:
    """Make ``family`` available to :func:`create_driver`."""
    _FACTORIES[family] = factory


def families() -> list[str]:
    """Names of the families that have a driver."""
    _load_builtin()
    return sorted(_FACTORIES)


def create_driver(opts: DriverOptions) -> Driver:
    """Build the driver for ``opts.family``; unknown families are a bad request."""
    _load_builtin()
    try:
        factory = _FACTORIES[opts.family]
    except KeyError:
        raise BadRequest(
            f"unknown device family {opts.family!r} (known: {', '.join(sorted(_FACTORIES))})",
            code="ERR_THING_OPTS_INVALID",
        ) from None
    return factory(opts)


# Built-in family → "module:Class" of its driver, imported on first use so that importing
# the registry does not pull every driver (and its libraries) in.
BUILTIN: dict[str, str] = {
    "antminer": "hashfleet.drivers.antminer.driver:AntminerDriver",
    "xmrig": "hashfleet.drivers.xmrig.driver:XmrigDriver",
    "rig": "hashfleet.drivers.rig.driver:RigDriver",
    "whatsminer": "hashfleet.drivers.whatsminer.driver:WhatsminerDriver",
    "avalon": "hashfleet.drivers.avalon.driver:AvalonDriver",
    "braiins": "hashfleet.drivers.braiins.driver:BraiinsDriver",
    "luxos": "hashfleet.drivers.luxos.driver:LuxosDriver",
    "vnish": "hashfleet.drivers.vnish.driver:VnishDriver",
    "iceriver": "hashfleet.drivers.iceriver.driver:IceRiverDriver",
    "lolminer": "hashfleet.drivers.lolminer.driver:LolminerDriver",
    "trex": "hashfleet.drivers.trex.driver:TrexDriver",
    "gminer": "hashfleet.drivers.gminer.driver:GminerDriver",
    "bzminer": "hashfleet.drivers.bzminer.driver:BzminerDriver",
    "srbminer": "hashfleet.drivers.srbminer.driver:SrbminerDriver",
    "teamredminer": "hashfleet.drivers.teamredminer.driver:TeamRedMinerDriver",
    "pool_account": "hashfleet.drivers.pool_account.driver:PoolAccountDriver",
    "chia": "hashfleet.drivers.chia.driver:ChiaDriver",
    "modbus_meter": "hashfleet.drivers.modbus_meter.driver:ModbusMeterDriver",
    "modbus_sensor": "hashfleet.drivers.modbus_sensor.driver:ModbusSensorDriver",
    "container": "hashfleet.drivers.container.driver:ContainerDriver",
}

# The thing type a family's devices are registered as (``t-<type>`` tag); miners otherwise.
THING_TYPES: dict[str, str] = {
    "modbus_meter": "powermeter",
    "modbus_sensor": "sensor",
    "container": "container",
    "pool_account": "pool",
    "chia": "chia",
    "rig": "rig",
}


def thing_type(family: str) -> str:
    """The thing type of ``family``'s devices (``miner`` unless it is a farm device)."""
    return THING_TYPES.get(family, "miner")


_builtin_loaded = False


def _load_builtin() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    for family, target in BUILTIN.items():
        if family not in _FACTORIES:
            _FACTORIES[family] = _lazy(target)


def _lazy(target: str) -> DriverFactory:
    def factory(opts: DriverOptions) -> Driver:
        module, _, attr = target.partition(":")
        cls: DriverFactory = getattr(importlib.import_module(module), attr)
        return cls(opts)

    return factory


def driver_class(family: str) -> type:
    """The driver class of a built-in ``family`` (to read its ``capabilities``)."""
    module, _, attr = BUILTIN[family].partition(":")
    cls: type = getattr(importlib.import_module(module), attr)
    return cls
