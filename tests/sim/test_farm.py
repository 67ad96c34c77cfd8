"""The simulated farm: address allocation, a 1,000-device farm, the control endpoint, and
the simulators' drifting-but-deterministic values.

Addresses: 127.78.x.y for this module.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from hashfleet.core.errors import DeviceError, DeviceOffline
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.registry import create_driver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.antminer import AntminerSim
from hashfleet.sim.farm import Farm, allocate
from hashfleet.sim.faults import Fault
from hashfleet.sim.xmrig import XmrigSim

WAIT = 10.0


def test_allocation_is_consecutive_and_skips_0_and_255() -> None:
    assert allocate("127.10.0.1", 3) == ["127.10.0.1", "127.10.0.2", "127.10.0.3"]
    assert allocate("127.10.0.254", 3) == ["127.10.0.254", "127.10.1.1", "127.10.1.2"]
    assert allocate("127.10.255.254", 2) == ["127.10.255.254", "127.11.0.1"]
    addresses = allocate("127.10.0.1", 1000)
    assert len(set(addresses)) == 1000
    assert addresses[-1] == "127.10.3.238"  # 254 usable per /24
    assert not any(a.endswith((".0", ".255")) for a in addresses)


def test_allocation_refuses_to_leave_loopback() -> None:
    with pytest.raises(ValueError):
        allocate("127.255.255.253", 5)
    with pytest.raises(ValueError):
        allocate("10.0.0.1", 1)
    with pytest.raises(ValueError):
        allocate("not-an-ip", 1)


async def poll(dev_family: str, address: str, port: int) -> Snapshot:
    drv = create_driver(DriverOptions(family=dev_family, address=address, port=port, timeout=3))
    try:
        return await asyncio.wait_for(drv.collect(), WAIT)
    finally:
        await drv.close()


async def test_a_thousand_devices_start_answer_and_stop() -> None:
    farm = Farm(antminers=900, xmrigs=100, ip_base="127.78.0.1")
    await asyncio.wait_for(farm.start(), 30)
    try:
        assert len(farm.devices) == 1000
        assert {d.family for d in farm.devices[:900]} == {"antminer"}
        assert {d.family for d in farm.devices[900:]} == {"xmrig"}
        sample = random.Random(4).sample(farm.devices[:900], 15) + farm.devices[-5:]
        snaps = await asyncio.gather(*(poll(d.family, d.address, d.port) for d in sample))
        assert all(s.stats.hashrate and s.stats.status == "online" for s in snaps)
        models = {s.config.model for s in snaps[:15]}
        assert models <= {"S19j Pro", "S19 Pro", "S21"} and len(models) > 1
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
    with pytest.raises(DeviceOffline):
        await poll("antminer", farm.devices[0].address, 4028)


async def test_control_endpoint_lists_devices_and_flips_faults() -> None:
    control = ("127.78.200.1", 18099)
    farm = Farm(antminers=2, xmrigs=1, ip_base="127.78.10.1", web_ui=False, control=control)
    await asyncio.wait_for(farm.start(), WAIT)
    base = farm.control_url
    target = farm.devices[0].address
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
            async with http.get(f"{base}/devices") as resp:
                listing = await resp.json()
            assert [(d["family"], d["address"], d["port"]) for d in listing] == [
                ("antminer", "127.78.10.1", 4028),
                ("antminer", "127.78.10.2", 4028),
                ("xmrig", "127.78.10.3", 8080),
            ]
            assert listing[0]["fault"] == "none"
            async with http.post(
                f"{base}/devices/{target}/fault", json={"fault": "refuse"}
            ) as resp:
                assert resp.status == 200
                assert await resp.json() == {"address": target, "fault": "refuse"}
            with pytest.raises(DeviceOffline):
                await poll("antminer", target, 4028)
            async with http.post(f"{base}/devices/{target}/fault", json={"fault": "none"}) as resp:
                assert resp.status == 200
            await poll("antminer", target, 4028)
            async with http.post(f"{base}/devices/{target}/fault", json={"fault": "melt"}) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"] == "ERR_PAYLOAD_INVALID"
            async with http.post(f"{base}/devices/{target}/fault", data=b"{") as resp:
                assert resp.status == 400
            async with http.post(
                f"{base}/devices/127.78.99.9/fault", json={"fault": "hang"}
            ) as resp:
                assert resp.status == 404
            async with http.get(f"{base}/devices/127.78.99.9") as resp:
                assert resp.status == 404
            farm.devices[0].sim.restart()
            async with http.get(f"{base}/devices/{target}") as resp:
                state = await resp.json()
            assert state["reboots"] == 1 and state["uptime_s"] < 5
            assert state["model"] == "Antminer S19j Pro" and state["fault"] == "none"
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)


def test_set_fault_validates_address_and_fault() -> None:
    farm = Farm(antminers=1, ip_base="127.78.20.1", web_ui=False)
    with pytest.raises(KeyError):
        farm.set_fault("127.78.20.99", "refuse")
    with pytest.raises(ValueError):
        farm.set_fault("127.78.20.1", "on-fire")
    farm.set_fault("127.78.20.1", Fault.OVERHEAT)
    assert farm.devices[0].sim.fault is Fault.OVERHEAT


async def test_a_device_refusing_from_the_start_recovers() -> None:
    farm = Farm(antminers=1, xmrigs=1, ip_base="127.78.30.1", web_ui=False)
    for dev in farm.devices:
        farm.set_fault(dev.address, "refuse")
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        for dev in farm.devices:
            with pytest.raises(DeviceError):
                await poll(dev.family, dev.address, dev.port)
            farm.set_fault(dev.address, "none")
            await poll(dev.family, dev.address, dev.port)
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)


def test_values_are_deterministic_and_drift_within_bounds() -> None:
    t = [1_732_300_000.0]

    def clock() -> float:
        return t[0]

    a = AntminerSim("127.78.40.1", seed=42, clock=clock)
    b = AntminerSim("127.78.40.1", seed=42, clock=clock)
    request = b'{"command":"summary+stats"}'
    assert a.answer(request, eof=False) == b.answer(request, eof=False)
    totals, elapsed = [], []
    for _ in range(50):
        t[0] += 37.0
        live = a.live(clock())
        totals.append(live.total)
        elapsed.append(live.elapsed)
    assert len(set(totals)) > 40  # it drifts…
    assert all(0.97 * 104_000 < x < 1.03 * 104_000 for x in totals)  # …around the nameplate
    assert elapsed == sorted(elapsed) and elapsed[-1] - elapsed[0] == 49 * 37
    x = XmrigSim("127.78.40.2", seed=42, clock=clock)
    rates = [x.hashrates(t[0] + k * 60.0)[0][0] for k in range(20)]
    assert len(set(rates)) > 15 and all(r and 17_000 < r < 20_000 for r in rates)


def test_antminer_sim_speaks_text_mode_and_new_api() -> None:
    s = AntminerSim("127.78.40.3", seed=1)
    text = s.answer(b"summary", eof=True)
    assert text is not None and text.startswith(b"STATUS=S,") and b"|SUMMARY,Elapsed=" in text
    reply = s.answer(b'{"command": "stats", "new_api": true}', eof=False)
    assert reply is not None and b'"chain":[{"index":0' in reply
    assert s.answer(b'{"command": "summ', eof=False) is None  # incomplete: wait for more
    assert b'"Code":23' in (s.answer(b'{"command": "summ', eof=True) or b"")
    assert b'"Code":24' in (s.answer(b'{"cmd": "summary"}', eof=False) or b"")
