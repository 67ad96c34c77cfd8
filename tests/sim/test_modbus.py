"""The Modbus TCP sim host at the byte level (127.97.4.x, port 502), the client's frame
checks, and the three Modbus families served by a Farm through the registry."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.container.driver import ContainerDriver
from hashfleet.drivers.modbus_common import ModbusClient, frame_problem
from hashfleet.drivers.modbus_meter.driver import ModbusMeterDriver
from hashfleet.drivers.modbus_sensor.driver import ModbusSensorDriver
from hashfleet.sim import registry
from hashfleet.sim.container import ContainerSim
from hashfleet.sim.farm import Farm
from hashfleet.sim.modbus import ModbusHost, float_words
from hashfleet.sim.modbus_meter import MeterSim
from hashfleet.sim.xmrig import XmrigSim

WAIT = 10.0


def frame(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


async def exchange(address: str, raw: bytes, replies: int = 1) -> list[bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, 502), WAIT)
    try:
        writer.write(raw)
        out = []
        for _ in range(replies):
            head = await asyncio.wait_for(reader.readexactly(6), WAIT)
            out.append(head + await reader.readexactly(int.from_bytes(head[4:6], "big")))
        return out
    finally:
        writer.close()


async def test_exceptions_pipelining_and_writes() -> None:
    host = ModbusHost()
    meter = MeterSim("127.97.4.1", seed=1)
    box = ContainerSim("127.97.4.2", seed=2)
    await host.add(meter)
    await host.add(box)
    try:
        # two requests in one segment, answered in order with their transaction ids
        two = frame(7, 1, b"\x04\x00\x46\x00\x02") + frame(8, 1, b"\x04\x00\x00\x00\x02")
        a, b = await exchange("127.97.4.1", two, replies=2)
        assert a[:2] == b"\x00\x07" and a[7:9] == b"\x04\x04" and b[:2] == b"\x00\x08"
        hz = struct.unpack(">f", a[9:13])[0]
        assert 49.9 < hz < 50.1
        # unknown address, count 0, unknown function, wrong unit
        cases = {
            b"\x04\x10\x00\x00\x02": (1, b"\x84\x02"),
            b"\x04\x00\x00\x00\x00": (1, b"\x84\x03"),
            b"\x41\x00\x00": (1, b"\xc1\x01"),
            b"\x03\x00\x00\x00\x01": (9, b"\x83\x0b"),
        }
        for pdu, (unit, want) in cases.items():
            (reply,) = await exchange("127.97.4.1", frame(1, unit, pdu))
            assert reply[7:] == want, pdu
        # function 16 writes the container's set point; function 6 on a read-only register fails
        (reply,) = await exchange("127.97.4.2", frame(2, 1, b"\x10\x00\x00\x00\x01\x02\x01\xa4"))
        assert reply[7:] == b"\x10\x00\x00\x00\x01" and box.setpoint == 42.0
        (reply,) = await exchange("127.97.4.2", frame(3, 1, b"\x06\x00\x01\x02\x8a"))
        assert reply[7:] == b"\x86\x02"
        # something that is not Modbus TCP: the connection is dropped
        reader, writer = await asyncio.open_connection("127.97.4.1", 502)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
        writer.close()
        with pytest.raises(TypeError):
            await host.add(XmrigSim("127.97.4.3", seed=3))
    finally:
        await host.close()


async def test_client_bits_and_reconnect_after_a_reset() -> None:
    host = ModbusHost()
    box = ContainerSim("127.97.4.9", seed=4)
    await host.add(box)
    client = ModbusClient("127.97.4.9", None, 2.0, 1)
    try:
        assert (
            await client.read_bits(2, 0, 12) == [True] * 2 + [False] * 2 + [True] * 4 + [False] * 4
        )
        box.set_fault("refuse")  # resets the open connection on the next request
        with pytest.raises(DeviceOffline):
            await client.read_bits(1, 0, 1)
        box.set_fault("none")
        assert await client.read_bits(1, 0, 1) == [True]  # a new connection
    finally:
        await client.close()
        await host.close()


async def canned_server(address: str, reply: bytes) -> asyncio.Server:
    """A "device" that answers every request with ``reply`` (its tid patched in)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await reader.read(260):
                writer.write(request[:2] + reply[2:])
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, address, 502)


@pytest.mark.parametrize(
    ("n", "reply"),
    [
        (1, frame(0, 1, b"\x04\x02\x43\x66")),  # one register for two
        (2, frame(0, 1, b"\x03\x04\x43\x66\x00\x00")),  # another function's reply
        (3, frame(0, 9, b"\x04\x04\x43\x66\x00\x00")),  # another unit
        (4, frame(0, 1, b"\x84")),  # exception reply without its code
        (5, b"\x00\x00\x00\x00\x01\x00\x01\x04"),  # length 256
    ],
)
async def test_malformed_replies_are_invalid(n: int, reply: bytes) -> None:
    server = await canned_server(f"127.97.4.{60 + n}", reply)
    client = ModbusClient(f"127.97.4.{60 + n}", None, 2.0, 1)
    try:
        with pytest.raises(DeviceReplyInvalid):
            await asyncio.wait_for(client.read_registers(4, 0, 2), WAIT)
    finally:
        await client.close()
        server.close()


def test_frame_problem() -> None:
    good = frame(5, 1, b"\x04\x04" + b"\x43\x66\x00\x00")
    assert frame_problem(good, 5, 4, 2) is None
    assert frame_problem(good[:5], 5, 4, 2) is None  # short so far
    assert frame_problem(frame(5, 1, b"\x84\x02"), 5, 4, 2) is None
    assert frame_problem(good, 6, 4, 2) == "transaction id does not match"
    assert frame_problem(good, 5, 4, 2, unit=1) is None
    assert frame_problem(good, 5, 4, 2, unit=2) == "reply from unit 1, asked unit 2"
    assert frame_problem(good, 5, 3, 2) is not None
    assert frame_problem(good, 5, 4, 3) is not None  # byte count for another count
    assert frame_problem(b"\x16\x03\x01\x00\xa5", 5, 4, 2) == "protocol id is not 0"
    assert frame_problem(frame(5, 1, b"\x05\x00\x00\xff\x00"), 5, 5, 1) is None
    assert float_words(230.0) == (0x4366, 0) and float_words(230.0, "little") == (0, 0x4366)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF), st.sampled_from([1, 2, 3, 4, 5, 6, 16]),
       st.integers(1, 125))  # fmt: skip
def test_frame_problem_never_raises(data: bytes, tid: int, function: int, count: int) -> None:
    problem = frame_problem(data, tid, function, count)
    assert problem is None or isinstance(problem, str)


async def test_a_farm_serves_the_modbus_families(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registered for this test only: the lead wires the families in for good.
    for family in ("modbus_meter", "modbus_sensor", "container"):
        monkeypatch.setitem(registry._MODULES, family, f"hashfleet.sim.{family}:FAMILY")
    farm = Farm(mix={"modbus_meter": 1, "modbus_sensor": 1, "container": 1},
                ip_base="127.97.4.201", web_ui=False)  # fmt: skip
    await asyncio.wait_for(farm.start(), WAIT)
    drivers: dict[str, type[ModbusMeterDriver | ModbusSensorDriver | ContainerDriver]] = {
        "modbus_meter": ModbusMeterDriver,
        "modbus_sensor": ModbusSensorDriver,
        "container": ContainerDriver,
    }
    try:
        sections = []
        for dev in farm.devices:
            opts = parse_options(dev.sim.thing_opts())
            drv = drivers[opts.family](opts)
            try:
                s = (await asyncio.wait_for(drv.collect(), WAIT)).stats
            finally:
                await drv.close()
            sections.append((s.meter is not None, s.environment is not None, s.cooling is not None))
        assert sections == [(True, False, False), (False, True, False), (False, False, True)]
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
