"""Discovery: address expansion, and scanning simulated farms (127.89.0.x, 127.89.6.x).

Every address of the range is probed; silent addresses (nothing listening) are skipped,
each simulated device is identified with make, model and firmware by its own driver.
"""

from __future__ import annotations

import asyncio

import pytest

from hashfleet.agent.discovery import expand, scan
from hashfleet.drivers.identify import classify_cgminer, identify
from hashfleet.sim.farm import Farm

WAIT = 30.0


def test_expand_cidr_ranges_and_singles_in_order_without_repeats() -> None:
    assert expand(["10.0.0.0/30"]) == ["10.0.0.1", "10.0.0.2"]
    assert expand(["10.0.0.5-7", "10.0.0.6"]) == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert expand(["10.0.0.254-10.0.1.1"]) == ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
    assert expand(["192.168.1.9"]) == ["192.168.1.9"]
    assert len(expand(["10.0.0.0/22"])) == 1022


@pytest.mark.parametrize(
    "bad", ["10.0.0.0/8", "10.0.0.9-3", "not-an-ip", "::1/128", "10.0.0.1-10.2.0.0"]
)
def test_expand_refuses_bad_and_huge_targets(bad: str) -> None:
    with pytest.raises(ValueError):
        expand([bad])


@pytest.mark.parametrize(
    ("reply", "family"),
    [
        ({"VERSION": [{"BMMiner": "1.0.0", "Type": "Antminer S19j Pro"}]}, "antminer"),
        ({"VERSION": [{"BOSminer": "0.2.0", "Type": "Antminer S19j Pro"}]}, "braiins"),
        ({"VERSION": [{"LUXminer": "2024.1", "Type": "Antminer S19j Pro"}]}, "luxos"),
        ({"VERSION": [{"Type": "Antminer S19 Pro (vnish 1.2.6)"}]}, "vnish"),
        ({"STATUS": [{"Description": "btminer"}]}, "whatsminer"),
        ({"VERSION": [{"CGMiner": "4.11.1", "PROD": "AvalonMiner 1246"}]}, "avalon"),
        ({"STATUS": [{"Description": "TeamRedMiner 0.10.21"}]}, "teamredminer"),
        ({"VERSION": [{"CGMiner": "4.11.1"}]}, None),
    ],
)
def test_cgminer_replies_are_told_apart_most_specific_first(
    reply: dict[str, object], family: str | None
) -> None:
    assert classify_cgminer(reply) == family


async def test_scan_finds_every_simulated_device_and_skips_silent_addresses() -> None:
    farm = Farm(antminers=3, xmrigs=2, ip_base="127.89.0.1", web_ui=False)
    await asyncio.wait_for(farm.start(), WAIT)
    seen: list[str] = []
    try:
        addresses = expand(["127.89.0.1-10"])
        found = await asyncio.wait_for(
            scan(addresses, concurrency=4, timeout=1.0, on_result=lambda a, _r: seen.append(a)),
            WAIT,
        )
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
    assert sorted(seen) == sorted(addresses)  # every address reported once
    assert [f.address for f in found] == [f"127.89.0.{i}" for i in range(1, 6)]
    by_family = {f.address: f for f in found}
    for dev in farm.devices:
        got = by_family[dev.address]
        assert (got.family, got.port) == (dev.family, dev.port)
        assert got.model and dev.sim.model.endswith(got.model)  # "Antminer S19j Pro"
        assert got.firmware and got.status == "online" and got.hashrate
    assert found[0].make == "Antminer" and found[3].make == "XMRig"


async def test_identify_is_none_for_a_silent_address_and_a_refusing_device() -> None:
    farm = Farm(antminers=1, ip_base="127.89.1.1", web_ui=False)
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        farm.set_fault("127.89.1.1", "refuse")
        assert await asyncio.wait_for(identify("127.89.1.1", 0.5), WAIT) is None
        assert await asyncio.wait_for(identify("127.89.1.2", 0.5), WAIT) is None
        farm.set_fault("127.89.1.1", "garbage")
        assert await asyncio.wait_for(identify("127.89.1.1", 0.5), WAIT) is None
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)


async def test_scan_identifies_every_registered_family() -> None:
    mix = {"avalon": 1, "iceriver": 1, "lolminer": 1, "trex": 1, "gminer": 1, "bzminer": 1,
           "srbminer": 1, "teamredminer": 1, "whatsminer": 1, "braiins": 1, "luxos": 1,
           "vnish": 1}  # fmt: skip
    farm = Farm(mix=mix, ip_base="127.89.6.1")
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        found = await asyncio.wait_for(scan(expand(["127.89.6.1-16"]), timeout=2.0), WAIT)
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
    assert [(f.address, f.family) for f in found] == [(d.address, d.family) for d in farm.devices]
    for f, dev in zip(found, farm.devices, strict=True):
        assert f.port == dev.port and f.status == "online", f
        assert f.make and (f.model or f.firmware), f  # mining software has no model
