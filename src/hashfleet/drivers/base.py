"""The Driver protocol every device family implements, and the options it is built from."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import msgspec

from hashfleet.core.errors import BadRequest
from hashfleet.model.snapshot import Snapshot


class DriverOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """How to reach one device; this is a thing's ``opts`` in the registry."""

    family: str
    address: str
    port: int | None = None
    timeout: float = 5.0
    interval: float | None = None
    username: str | None = None
    password: str | None = None
    # Family-specific settings (Modbus unit id, API key, certificate paths…); each driver
    # checks its own and raises ERR_THING_OPTS_INVALID for bad ones.
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class PoolTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A pool to mine on, as ``set_pools`` takes it."""

    url: str
    user: str
    password: str = "x"


# The controls a driver may declare in ``capabilities``, each an async method of that name:
#   reboot()                      restart the device or its mining process
#   set_pools(pools)              make ``list[PoolTarget]`` the pools, in priority order
#   set_power_mode(mode)          "sleep", "normal", "low", "high" (what the device has)
#   set_power_limit(watts)        cap the power draw
#   set_led(on)                   fault/locate light
#   set_fan(percent)              fixed fan speed (None: automatic)
#   set_frequency(mhz)            chip frequency
#   pause() / resume()            stop and restart hashing (mining software)
#   set_config(doc)               replace the mining software's config document
#   set_cooling(on) / set_setpoint(celsius)   containers
CAPABILITIES = frozenset(
    {
        "reboot", "set_pools", "set_power_mode", "set_power_limit", "set_led", "set_fan",
        "set_frequency", "pause", "resume", "set_config", "set_cooling", "set_setpoint",
    }
)  # fmt: skip


def parse_options(opts: dict[str, Any]) -> DriverOptions:
    """A thing's ``opts`` → checked :class:`DriverOptions` (unknown keys are kept out).

    Raises ``BadRequest`` (``ERR_THING_OPTS_INVALID``) when a field is missing or mistyped.
    """
    known = {k: v for k, v in opts.items() if k in DriverOptions.__struct_fields__}
    try:
        return msgspec.convert(known, DriverOptions)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"opts: {exc}", code="ERR_THING_OPTS_INVALID") from exc


class Driver(Protocol):
    """Reads one device and turns its replies into a canonical :class:`Snapshot`.

    ``collect`` raises a :class:`hashfleet.core.errors.DeviceError` subclass when the
    device is unreachable (``DeviceOffline``), slow (``DeviceTimeout``) or answers
    garbage (``DeviceReplyInvalid``); it never raises anything else on purpose.
    """

    family: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]

    async def collect(self) -> Snapshot:
        """Poll the device once and return its snapshot."""
        ...

    async def close(self) -> None:
        """Release connections held for this device."""
        ...
