"""Modbus TCP for farm-device drivers: one client choke point and table-driven decoding.

:class:`ModbusClient` wraps pymodbus's ``AsyncModbusTcpClient`` behind one
:meth:`ModbusClient.request` and turns every failure into a device error:

* cannot connect / connection lost → :class:`DeviceOffline`
* no answer in ``timeout`` → :class:`DeviceTimeout`
* a Modbus exception response → :class:`DeviceCommandFailed` (``exception_code`` detail)
* bytes that are not a Modbus TCP frame for our request, or fewer values than asked →
  :class:`DeviceReplyInvalid`

pymodbus silently waits for more data when a reply's header is not Modbus (it treats it
as a partial frame), which would make garbage look like a timeout; a ``trace_packet``
hook checks each received buffer with :func:`frame_problem` and fails the request at once.

Register maps are tuples of frozen :class:`Reg` descriptors; :func:`plan_blocks` groups
them into as few contiguous reads as the 125-register limit allows and :func:`decode_regs`
turns the blocks read into named values, so another device is just another table.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from hashfleet.core.errors import (
    BadRequest,
    DeviceCommandFailed,
    DeviceError,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)

MODBUS_PORT = 502
MAX_READ_REGISTERS = 125  # the Modbus limit for function 3/4
MAX_READ_BITS = 2000

Kind = Literal["f32", "u16", "i16", "u32", "i32"]
WordOrder = Literal["big", "little"]
READ_FUNCTIONS = frozenset({1, 2, 3, 4})

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class _Garbage(Exception):
    """The device sent bytes that are not a Modbus TCP reply to our request."""


def frame_problem(
    data: bytes, tid: int, function: int, count: int, unit: int | None = None
) -> str | None:
    """Why ``data`` (the start of a reply buffer) cannot be the reply, or ``None``.

    ``None`` also when the buffer is merely short so far. Checks the MBAP header (protocol
    id 0, a sane length, our transaction and unit id), the function code (ours or ours | 0x80) and,
    for reads, that the byte count matches what we asked for.
    """
    if len(data) >= 4 and data[2:4] != b"\0\0":
        return "protocol id is not 0"
    if len(data) < 7:
        return None
    length = int.from_bytes(data[4:6], "big")
    if not 3 <= length <= 254:
        return f"MBAP length {length} out of range"
    if tid and int.from_bytes(data[0:2], "big") != tid:
        return "transaction id does not match"
    if unit and data[6] != unit:
        return f"reply from unit {data[6]}, asked unit {unit}"
    if len(data) < 8:
        return None
    fc = data[7]
    if fc == function | 0x80:
        return None if length == 3 else "exception reply of wrong length"
    if fc != function:
        return f"function code {fc} for a request of function {function}"
    if function in READ_FUNCTIONS and len(data) >= 9:
        want = count * 2 if function in (3, 4) else (count + 7) // 8
        if data[8] != want or length != want + 3:
            return f"byte count {data[8]} (length {length}) for {count} values"
    elif function not in READ_FUNCTIONS and length != 6:
        return f"write echo of length {length}"
    return None


class ModbusClient:
    """One device's Modbus TCP connection, opened on first use and kept between polls."""

    def __init__(self, address: str, port: int | None, timeout: float, unit_id: int) -> None:
        """Reach unit ``unit_id`` at ``address:port`` (502 unless given)."""
        self.address = address
        self.port = port or MODBUS_PORT
        self.timeout = timeout
        self.unit_id = unit_id
        self._client: AsyncModbusTcpClient | None = None
        self._expect: tuple[int, int] = (0, 0)  # function, count of the request in flight
        self._lock = asyncio.Lock()

    def _new_client(self) -> AsyncModbusTcpClient:
        # retries=0: a poll is retried by the next poll, not inside this one;
        # reconnect_delay=0: no background reconnect task outliving a failed poll.
        return AsyncModbusTcpClient(self.address, port=self.port, timeout=self.timeout,
                                    retries=0, reconnect_delay=0, trace_packet=self._trace,
                                    trace_connect=self._connection)  # fmt: skip

    def _connection(self, up: bool) -> None:
        # pymodbus leaves a request waiting for its timeout when the peer resets the
        # connection; a reset is a device going away, so fail the request now.
        if up or self._client is None:
            return
        future = self._client.ctx.response_future
        if not future.done():
            future.set_exception(ConnectionException("connection reset by the device"))

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending or self._client is None:
            return data
        ctx = self._client.ctx
        function, count = self._expect
        problem = frame_problem(data, ctx.request_transaction_id, function, count, self.unit_id)
        if problem is None:
            return data
        if not ctx.response_future.done():
            ctx.response_future.set_exception(_Garbage(problem))
        return b""  # nothing for pymodbus to parse; the connection is dropped after

    async def request(
        self, function: int, address: int, count: int = 1, value: bool | Sequence[int] = ()
    ) -> list[int] | list[bool]:
        """Run one request; reads return ``count`` registers or bits, writes ``[]``.

        ``function``: 1/2/3/4 reads, 5 (``value`` a bool), 6 (one register), 16 (registers).
        """
        async with self._lock:
            try:
                return await asyncio.wait_for(
                    self._request(function, address, count, value), self.timeout * 2 + 1
                )
            except DeviceCommandFailed:
                raise  # the device answered (an exception): the connection is fine
            except DeviceError:
                self._drop()
                raise
            except TimeoutError:
                self._drop()
                raise DeviceTimeout(f"no Modbus reply from {self.address}:{self.port}") from None

    async def _request(
        self, function: int, address: int, count: int, value: bool | Sequence[int]
    ) -> list[int] | list[bool]:
        where = f"{self.address}:{self.port}"
        client = self._client
        if client is None or not client.connected:
            self._drop()
            client = self._client = self._new_client()
            try:
                ok = await client.connect()
            except (OSError, ModbusException) as exc:
                raise DeviceOffline(f"cannot connect to {where}: {exc}") from exc
            if not ok:
                raise DeviceOffline(f"cannot connect to {where}")
        self._expect = (function, count)
        dev = self.unit_id
        try:
            if function == 1:
                reply = await client.read_coils(address, count=count, device_id=dev)
            elif function == 2:
                reply = await client.read_discrete_inputs(address, count=count, device_id=dev)
            elif function == 3:
                reply = await client.read_holding_registers(address, count=count, device_id=dev)
            elif function == 4:
                reply = await client.read_input_registers(address, count=count, device_id=dev)
            elif function == 5:
                reply = await client.write_coil(address, bool(value), device_id=dev)
            elif function == 6 and isinstance(value, Sequence) and len(value) == 1:
                reply = await client.write_register(address, value[0], device_id=dev)
            elif function == 16 and isinstance(value, Sequence):
                reply = await client.write_registers(address, list(value), device_id=dev)
            else:
                raise ValueError(f"unsupported Modbus request: function {function}")
        except _Garbage as exc:
            raise DeviceReplyInvalid(f"{where}: not a Modbus reply ({exc})") from None
        except ConnectionException as exc:
            raise DeviceOffline(f"{where}: connection lost ({exc})") from exc
        except ModbusIOException as exc:
            if "No response" in str(exc):
                raise DeviceTimeout(f"no Modbus reply from {where}") from exc
            raise DeviceReplyInvalid(f"{where}: {exc}") from exc
        except ModbusException as exc:
            raise DeviceReplyInvalid(f"{where}: {exc}") from exc
        return self._values(reply, function, count, where)

    @staticmethod
    def _values(reply: ModbusPDU, function: int, count: int, where: str) -> list[int] | list[bool]:
        if reply.isError():
            code = reply.exception_code
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise DeviceCommandFailed(f"{where}: Modbus exception {code} ({name})",
                                      exception_code=code, function=function)  # fmt: skip
        if function in (3, 4):
            regs = list(reply.registers)
            if len(regs) != count:
                raise DeviceReplyInvalid(f"{where}: {len(regs)} registers for {count}")
            return regs
        if function in (1, 2):
            bits = [bool(b) for b in reply.bits]
            if len(bits) < count:
                raise DeviceReplyInvalid(f"{where}: {len(bits)} bits for {count}")
            return bits[:count]  # bits come padded to whole bytes
        return []

    async def read_registers(self, function: int, address: int, count: int) -> list[int]:
        """``count`` registers (function 3 or 4) from ``address``."""
        return [int(v) for v in await self.request(function, address, count)]

    async def read_bits(self, function: int, address: int, count: int) -> list[bool]:
        """``count`` bits (function 1 or 2) from ``address``."""
        return [bool(v) for v in await self.request(function, address, count)]

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        self._drop()


# -- table-driven register decoding ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reg:
    """One value in a register map: where it is, how it is encoded, what it is called.

    ``scale`` multiplies the raw number (0.1 for "x10" registers); ``phase`` tags per-phase
    values of meters; ``optional`` values may be missing on some firmware (their block is
    skipped when the device answers "illegal data address").
    """

    name: str
    address: int
    kind: Kind = "f32"
    scale: float = 1.0
    phase: int | None = None
    optional: bool = False

    @property
    def size(self) -> int:
        """How many registers this value takes."""
        return 1 if self.kind in ("u16", "i16") else 2


@dataclass(frozen=True, slots=True)
class Block:
    """One contiguous read."""

    start: int
    count: int
    optional: bool = False


def plan_blocks(
    regs: Sequence[Reg], max_gap: int = 64, limit: int = MAX_READ_REGISTERS
) -> list[Block]:
    """Group ``regs`` into contiguous reads: a gap up to ``max_gap`` registers is read
    through (one request is cheaper than two), a block never exceeds ``limit``, and
    optional values never share a block with required ones."""
    blocks: list[Block] = []
    for optional in (False, True):
        start = end = -1
        for reg in sorted((r for r in regs if r.optional is optional), key=lambda r: r.address):
            r_end = reg.address + reg.size
            if start >= 0 and reg.address - end <= max_gap and r_end - start <= limit:
                end = max(end, r_end)
                continue
            if start >= 0:
                blocks.append(Block(start, end - start, optional))
            start, end = reg.address, r_end
        if start >= 0:
            blocks.append(Block(start, end - start, optional))
    return blocks


def decode_value(words: Sequence[int], kind: Kind, word_order: WordOrder = "big") -> float:
    """One value from its registers; ``word_order`` "big" = high word first."""
    if any(not isinstance(w, int) or not 0 <= w <= 0xFFFF for w in words):
        raise DeviceReplyInvalid(f"register values out of range: {list(words)!r}")
    if kind == "u16":
        return float(words[0])
    if kind == "i16":
        return float(words[0] - 0x10000 if words[0] & 0x8000 else words[0])
    high, low = (words[0], words[1]) if word_order == "big" else (words[1], words[0])
    raw = struct.pack(">HH", high, low)
    if kind == "f32":
        value: float = struct.unpack(">f", raw)[0]
        return value
    return float(struct.unpack(">I" if kind == "u32" else ">i", raw)[0])


def decode_regs(
    regs: Sequence[Reg], blocks: Mapping[int, Sequence[int]], word_order: WordOrder = "big"
) -> dict[str, float | None]:
    """Named values from the blocks read (start address → registers).

    A required value outside every block, or a non-finite float, makes the reply invalid;
    an optional value with no block is ``None``.
    """
    bank: dict[int, int] = {}
    for start, words in blocks.items():
        for i, word in enumerate(words):
            bank[start + i] = word
    out: dict[str, float | None] = {}
    for reg in regs:
        found = [bank.get(reg.address + i) for i in range(reg.size)]
        present = [w for w in found if w is not None]
        if len(present) != reg.size:
            if reg.optional and not present:
                out[reg.name] = None
                continue
            raise DeviceReplyInvalid(f"register {reg.address:#06x} ({reg.name}) missing")
        value = decode_value(present, reg.kind, word_order) * reg.scale
        if not math.isfinite(value):
            raise DeviceReplyInvalid(f"register {reg.address:#06x} ({reg.name}) is {value}")
        out[reg.name] = value
    return out


async def read_blocks(
    client: ModbusClient, function: int, blocks: Sequence[Block], absent: set[int] | None = None
) -> dict[int, list[int]]:
    """Read every block; an optional block the device lacks (exception 2) is left out and
    its start added to ``absent``, so later polls do not ask again."""
    out: dict[int, list[int]] = {}
    for block in blocks:
        if absent is not None and block.start in absent:
            continue
        try:
            out[block.start] = await client.read_registers(function, block.start, block.count)
        except DeviceCommandFailed as exc:
            if not (block.optional and exc.details.get("exception_code") == 2):
                raise
            if absent is not None:
                absent.add(block.start)
    return out


def param_int(params: Mapping[str, object], key: str, default: int, lo: int, hi: int) -> int:
    """An integer ``params[key]`` in ``lo..hi``; ``BadRequest`` otherwise."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadRequest(f"params.{key} must be an integer {lo}..{hi}, got {value!r}",
                         code="ERR_THING_OPTS_INVALID")  # fmt: skip
    return value


def register_dump(doc: object) -> dict[int, list[int]]:
    """A canned register dump (``{"blocks": {"<start>": [registers…]}}``, as the fixtures
    keep them) → start address → registers; ``DeviceReplyInvalid`` for any other shape."""
    blocks = doc.get("blocks") if isinstance(doc, dict) else None
    if not isinstance(blocks, dict):
        raise DeviceReplyInvalid("register dump has no blocks")
    out: dict[int, list[int]] = {}
    for start, words in blocks.items():
        if not isinstance(start, str) or not start.isdigit() or not isinstance(words, list):
            raise DeviceReplyInvalid(f"bad register block {start!r}")
        if not all(type(w) is int and 0 <= w <= 0xFFFF for w in words):
            raise DeviceReplyInvalid(f"block {start} holds non-register values")
        out[int(start)] = words
    return out
