"""Family name → driver class; the one place a new family is plugged in."""

from __future__ import annotations

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


_builtin_loaded = False


def _load_builtin() -> None:
    # Imported lazily so that importing the registry does not pull every driver in.
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    from hashfleet.drivers.antminer.driver import AntminerDriver
    from hashfleet.drivers.xmrig.driver import XmrigDriver

    _FACTORIES.setdefault(AntminerDriver.family, AntminerDriver)
    _FACTORIES.setdefault(XmrigDriver.family, XmrigDriver)
