"""A rig running two mining programs at once (127.89.3.x): one snapshot holds both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from hashfleet.core.errors import BadRequest, DeviceCommandFailed, DeviceOffline
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.host.readings import HostReader
from hashfleet.drivers.registry import create_driver
from hashfleet.drivers.rig.driver import RigDriver
from hashfleet.server.live.aggregates import Aggregates
from hashfleet.server.live.latest import hot_of
from hashfleet.sim.xmrig import XmrigServer, XmrigSim

WAIT = 10.0
ADDRESS = "127.89.3.1"


@pytest.fixture
async def two_miners() -> AsyncIterator[tuple[XmrigSim, XmrigSim]]:
    """A CPU XMRig on 8080 and a second (ghostrider) XMRig on 18081 of one machine."""
    server = XmrigServer()
    cpu = XmrigSim(ADDRESS, port=8080, seed=1, token="t", restricted=False)
    other = XmrigSim(ADDRESS, port=18081, seed=2, algo="ghostrider")
    await server.add(cpu)
    await server.add(other)
    try:
        yield cpu, other
    finally:
        await server.close()


def rig_opts(**extra: object) -> DriverOptions:
    miners = [{"family": "xmrig", "port": 8080, "password": "t"},
              {"family": "xmrig", "port": 18081}]  # fmt: skip
    return DriverOptions(family="rig", address=ADDRESS, timeout=2.0,
                         params={"miners": miners, **extra})  # fmt: skip


class NoTools:
    async def __call__(self, argv: Sequence[str], timeout: float) -> str | None:
        return (
            "0, RTX 3080, 91, 80, 70, 220, 1700, 9000, 1, 2, 100\n"
            if argv[0] == "nvidia-smi"
            else None
        )


async def test_one_snapshot_holds_both_programs(two_miners: tuple[XmrigSim, XmrigSim]) -> None:
    drv = create_driver(rig_opts())
    try:
        snap = await asyncio.wait_for(drv.collect(), WAIT)
    finally:
        await drv.close()
    s = snap.stats
    assert s.status == "online"
    assert [(st.algorithm, st.coin) for st in s.streams] == [("rx/0", "XMR"), ("ghostrider", "RTM")]
    assert all(st.hashrate and st.software == "XMRig" for st in s.streams)
    assert (s.algorithm, s.hashrate) == ("rx/0", s.streams[0].hashrate)
    assert [b.index for b in s.hashboards] == [0, 1] and len(s.pools) == 2
    # Fleet aggregates count each stream under its own algorithm, never summed together.
    agg = Aggregates()
    agg.apply("r", "rig", hot_of({"snap": snap.to_dict()}))
    assert set(agg.hashrate_by_algorithm) == {"rx/0", "ghostrider"}
    assert agg.hashrate_by_coin["RTM"] == int(s.streams[1].hashrate or 0)


async def test_one_program_down_is_an_error_with_the_other_still_reporting(
    two_miners: tuple[XmrigSim, XmrigSim],
) -> None:
    _, other = two_miners
    other.set_fault("refuse")
    drv = create_driver(rig_opts())
    try:
        snap = await asyncio.wait_for(drv.collect(), WAIT)
        two_miners[0].set_fault("refuse")
        with pytest.raises(DeviceOffline):
            await asyncio.wait_for(drv.collect(), WAIT)
    finally:
        await drv.close()
    assert snap.stats.status == "error" and "ERR_MINER_OFFLINE" in snap.stats.errors
    assert [st.algorithm for st in snap.stats.streams] == ["rx/0"]


async def test_pause_asks_every_program_and_reports_a_refusal(
    two_miners: tuple[XmrigSim, XmrigSim],
) -> None:
    cpu, other = two_miners  # the second XMRig's API is read-only (restricted)
    drv = RigDriver(rig_opts())
    try:
        with pytest.raises(DeviceCommandFailed):
            await asyncio.wait_for(drv.pause(), WAIT)
        assert cpu.paused and not other.paused
        with pytest.raises(DeviceCommandFailed):
            await asyncio.wait_for(drv.resume(), WAIT)
        assert not cpu.paused
    finally:
        await drv.close()


async def test_host_readings_join_the_rig(
    two_miners: tuple[XmrigSim, XmrigSim], tmp_path: Path
) -> None:
    drv = RigDriver(rig_opts(host=True), host_reader=HostReader(NoTools(), tmp_path))
    try:
        snap = await asyncio.wait_for(drv.collect(), WAIT)
    finally:
        await drv.close()
    assert snap.stats.host is not None and snap.stats.host.gpus[0].temp_c == 91.0
    assert snap.stats.temp_max == 91.0


@pytest.mark.parametrize(
    "params",
    [{}, {"miners": []}, {"miners": [{"family": "nope"}]}, {"miners": [{"family": "rig"}]},
     {"miners": [{"family": "xmrig", "port": "x"}]}, {"miners": [{"family": "xmrig"}], "x": 1}],
)  # fmt: skip
def test_bad_params_are_refused_at_registration(params: dict[str, object]) -> None:
    with pytest.raises(BadRequest) as info:
        create_driver(DriverOptions(family="rig", address=ADDRESS, params=params))
    assert info.value.code == "ERR_THING_OPTS_INVALID"
