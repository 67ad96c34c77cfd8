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
