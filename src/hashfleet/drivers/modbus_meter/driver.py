"""The Modbus power meter driver: reads the meter's register table in contiguous blocks
(two requests for an SDM630: 0x0000-0x0049 and the per-phase energy block) per poll.

``opts.params``: ``unit_id`` (0-255, default 1), ``map`` (``"sdm630"`` default, ``"sdm120"``),
``word_order`` (``"big"``: high word first, the map's default; ``"little"`` for gateways that
swap the words of 32-bit values).
Meters have no controls.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from hashfleet.core.errors import BadRequest
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.modbus_common import ModbusClient, param_int, plan_blocks, read_blocks
from hashfleet.drivers.modbus_meter.maps import MAPS
from hashfleet.drivers.modbus_meter.parse import parse_meter
from hashfleet.model.snapshot import Snapshot


class ModbusMeterDriver:
    """Reads a Modbus power meter into a :class:`Snapshot`."""

    family: ClassVar[str] = "modbus_meter"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the meter at ``opts.address`` (port 502 unless ``opts.port``)."""
        name = opts.params.get("map", "sdm630")
        if name not in MAPS:
            raise BadRequest(f"params.map must be one of {sorted(MAPS)}, got {name!r}",
                             code="ERR_THING_OPTS_INVALID")  # fmt: skip
        order = opts.params.get("word_order", MAPS[name].word_order)
        if order not in ("big", "little"):
            raise BadRequest(f"params.word_order must be 'big' or 'little', got {order!r}",
                             code="ERR_THING_OPTS_INVALID")  # fmt: skip
        self.map = replace(MAPS[name], word_order=order)
        self.blocks = plan_blocks(self.map.regs)
        unit = param_int(opts.params, "unit_id", 1, 0, 255)
        self.client = ModbusClient(opts.address, opts.port, opts.timeout, unit)
        self.absent: set[int] = set()  # optional blocks this firmware does not have

    async def collect(self) -> Snapshot:
        """Poll once."""
        blocks = await read_blocks(self.client, self.map.function, self.blocks, self.absent)
        return parse_meter(self.map, blocks)

    async def close(self) -> None:
        """Close the Modbus connection."""
        await self.client.close()
