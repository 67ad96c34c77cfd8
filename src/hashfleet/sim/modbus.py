"""Modbus TCP for simulated farm devices: the protocol, register banks and a tiny host.

Each simulated device (power meter, climate sensor, cooling container) owns one
:class:`~hashfleet.sim.base.Listener` on its address, port 502 by default, and answers the
function codes a real field device answers: 1/2 (coils, discrete inputs), 3/4 (holding,
input registers), 5/6 (write one coil/register) and 16 (write registers). Frames are
decoded and encoded with pymodbus's own socket framer and PDU classes, so the bytes are
exactly what pymodbus (and any other Modbus TCP client) expects.

Register values are computed from the clock when a request arrives: a device subclass
returns the whole bank of one table for ``now`` and this module slices it. An address
the device does not have answers exception 2 (illegal data address), as real meters do.

Transport faults: ``refuse`` closes the listener, ``hang`` reads requests and never
answers, ``garbage`` answers bytes that are not a Modbus frame (a non-zero protocol id and
a TLS-looking prefix) and closes the connection.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, TypeVar

from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsResponse,
    ReadDiscreteInputsResponse,
    WriteSingleCoilResponse,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterResponse,
)

from hashfleet.sim.base import Clock, Listener, SimDevice
from hashfleet.sim.faults import GARBAGE_BYTES, Fault

MODBUS_PORT = 502
_T = TypeVar("_T")
_MAX_BUFFER = 4096  # a Modbus TCP frame is at most 260 bytes; more unparsed is an attack


class Table(IntEnum):
    """The four Modbus data tables, by the function code that reads them."""

    COIL = 1
    DISCRETE = 2
    HOLDING = 3
    INPUT = 4


class ExcCode(IntEnum):
    """Modbus exception codes a simulated device answers."""

    ILLEGAL_FUNCTION = 1
    ILLEGAL_ADDRESS = 2
    ILLEGAL_VALUE = 3
    DEVICE_FAILURE = 4
    GATEWAY_NO_RESPONSE = 11


def float_words(value: float, word_order: str = "big") -> tuple[int, int]:
    """An IEEE 754 float as two registers; ``"big"`` puts the high word first (Eastron)."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return (high, low) if word_order == "big" else (low, high)


def put_float(bank: dict[int, int], address: int, value: float, word_order: str = "big") -> None:
    """Store ``value`` as a float pair at ``address`` and ``address + 1``."""
    bank[address], bank[address + 1] = float_words(value, word_order)


def int16(value: float) -> int:
    """A signed value (already scaled) as one register, two's complement, clamped."""
    return max(-32768, min(32767, round(value))) & 0xFFFF


def uint16(value: float) -> int:
    """An unsigned value (already scaled) as one register, clamped."""
    return max(0, min(0xFFFF, round(value)))


class ModbusSim(SimDevice):
    """A device answering Modbus TCP for one unit id; subclasses fill the banks.

    Subclasses implement :meth:`registers` / :meth:`bits` (the whole table at ``now``) and,
    for writable points, :meth:`write_coil` / :meth:`write_registers`.
    """

    family: ClassVar[str] = ""

    def __init__(
        self,
        address: str,
        *,
        seed: int,
        clock: Clock,
        port: int = MODBUS_PORT,
        unit_id: int = 1,
    ) -> None:
        """A device on ``address:port`` that answers requests for ``unit_id``."""
        super().__init__(address, port, seed=seed, clock=clock)
        self.unit_id = unit_id
        self.requests = 0
        self.listeners.append(Listener(address, port, lambda: ModbusServerProtocol(self)))

    # -- what subclasses provide -----------------------------------------------------------

    def registers(self, table: Table, now: float) -> Mapping[int, int]:
        """Every register of ``table`` (``HOLDING`` or ``INPUT``) at ``now``."""
        return {}

    def bits(self, table: Table, now: float) -> Mapping[int, bool]:
        """Every bit of ``table`` (``COIL`` or ``DISCRETE``) at ``now``."""
        return {}

    def write_coil(self, address: int, value: bool) -> ExcCode | None:
        """Set one coil; an exception code when the device refuses."""
        return ExcCode.ILLEGAL_ADDRESS

    def write_registers(self, address: int, values: Sequence[int]) -> ExcCode | None:
        """Set holding registers from ``address``; an exception code when refused."""
        return ExcCode.ILLEGAL_ADDRESS

    def params(self) -> dict[str, object]:
        """The driver ``params`` for this device (unit id, register map…)."""
        return {"unit_id": self.unit_id}

    def thing_opts(self) -> dict[str, object]:
        """Family, address, port and the Modbus ``params``."""
        return {**super().thing_opts(), "params": self.params()}

    # -- the protocol ----------------------------------------------------------------------

    def handle(self, request: ModbusPDU) -> ModbusPDU:
        """The response PDU to one decoded request PDU."""
        self.requests += 1
        fc = request.function_code
        if request.dev_id not in (self.unit_id, 0, 255):
            # Behind a TCP gateway a unit that is not on the bus never answers.
            return ExceptionResponse(fc, ExcCode.GATEWAY_NO_RESPONSE)
        now = self.clock()
        if fc in (Table.HOLDING, Table.INPUT):
            bank = self.registers(Table(fc), now)
            regs = _slice(bank, request.address, request.count)
            if regs is None:
                return ExceptionResponse(fc, ExcCode.ILLEGAL_ADDRESS)
            cls = ReadInputRegistersResponse if fc == Table.INPUT else ReadHoldingRegistersResponse
            return cls(registers=regs)
        if fc in (Table.COIL, Table.DISCRETE):
            bitbank = self.bits(Table(fc), now)
            bits = _slice(bitbank, request.address, request.count)
            if bits is None:
                return ExceptionResponse(fc, ExcCode.ILLEGAL_ADDRESS)
            cls2 = ReadCoilsResponse if fc == Table.COIL else ReadDiscreteInputsResponse
            return cls2(bits=[bool(b) for b in bits])
        if fc == 5:
            value = bool(request.bits[0]) if request.bits else False
            if code := self.write_coil(request.address, value):
                return ExceptionResponse(fc, code)
            return WriteSingleCoilResponse(address=request.address, bits=[value])
        if fc == 6:
            if code := self.write_registers(request.address, list(request.registers)):
                return ExceptionResponse(fc, code)
            return WriteSingleRegisterResponse(
                address=request.address, registers=list(request.registers)
            )
        if fc == 16:
            regs16 = list(request.registers)
            if not regs16 or len(regs16) != request.count:
                return ExceptionResponse(fc, ExcCode.ILLEGAL_VALUE)
            if code := self.write_registers(request.address, regs16):
                return ExceptionResponse(fc, code)
            return WriteMultipleRegistersResponse(address=request.address, count=request.count)
        return ExceptionResponse(fc, ExcCode.ILLEGAL_FUNCTION)


def _slice(bank: Mapping[int, _T], address: int, count: int) -> list[_T] | None:
    out: list[_T] = []
    for addr in range(address, address + count):
        value = bank.get(addr)
        if value is None:
            return None
        out.append(value)
    return out


class ModbusServerProtocol(asyncio.Protocol):
    """One client connection: any number of pipelined requests, answered in order."""

    def __init__(self, sim: ModbusSim) -> None:
        """Serve ``sim``."""
        self._sim = sim
        self._buf = b""
        self._transport: asyncio.Transport | None = None
        self._framer = FramerSocket(DecodePDU(is_server=True))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept unless the device refuses."""
        assert isinstance(transport, asyncio.Transport)
        if self._sim.admit(transport):
            self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop tracking the connection."""
        if self._transport is not None:
            self._sim.forget(self._transport)
            self._transport = None

    def data_received(self, data: bytes) -> None:
        """Answer every complete frame in the buffer (or not, per fault)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        fault = self._sim.faults.fault
        if fault is Fault.HANG:
            self._sim.hold(transport)
            return
        if fault is Fault.REFUSE:
            self._sim.admit(transport)  # resets it
            return
        if fault is Fault.GARBAGE:
            transport.write(GARBAGE_BYTES)
            transport.close()
            return
        self._buf += data
        while self._buf:
            used, unit, tid, pdu = self._framer.decode(self._buf)
            if not used:
                if len(self._buf) > _MAX_BUFFER or (
                    len(self._buf) >= 4 and self._buf[2:4] != b"\0\0"
                ):
                    transport.close()  # not Modbus TCP at all: drop, as real gateways do
                self._buf = self._buf[:_MAX_BUFFER]
                return
            self._buf = self._buf[used:]
            if not pdu:
                continue
            response = self._respond(pdu, unit)
            response.dev_id = unit
            response.transaction_id = tid
            transport.write(self._framer.buildFrame(response))

    def _respond(self, pdu: bytes, unit: int) -> ModbusPDU:
        request = self._framer.decoder.decode(pdu)
        if request is None:
            # Known function with a bad body (count 0, > 125…) or a function we do not have.
            known = pdu[0] in self._framer.decoder.pdu_table
            return ExceptionResponse(
                pdu[0] & 0x7F, ExcCode.ILLEGAL_VALUE if known else ExcCode.ILLEGAL_FUNCTION
            )
        request.dev_id = unit
        return self._sim.handle(request)


@dataclass
class ModbusHost:
    """Serves many simulated Modbus devices, each on its own listener (address:502)."""

    sims: list[ModbusSim] = field(default_factory=list)

    async def add(self, sim: SimDevice) -> None:
        """Open ``sim``'s listener; ``OSError`` if the address is taken."""
        if not isinstance(sim, ModbusSim):
            raise TypeError(f"{type(sim).__name__} is not a ModbusSim")
        await sim.start()
        self.sims.append(sim)

    async def close(self) -> None:
        """Stop every device added."""
        for sim in self.sims:
            await sim.stop()
        self.sims.clear()
