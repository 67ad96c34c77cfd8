"""The poller: each thing on its interval, failures isolated to their thing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import ClassVar

import pytest

from hashfleet.agent.poller import Poller
from hashfleet.core.errors import DeviceTimeout
from hashfleet.drivers import registry
from hashfleet.drivers.base import DriverOptions
from hashfleet.model.snapshot import MinerStats, Snapshot
from hashfleet.wire.messages import AgentThing


class ScriptedDriver:
    """A driver whose replies the test scripts by address (the poller's view of a device)."""

    family: ClassVar[str] = "scripted"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        self.opts = opts
        self.closed = False

    async def collect(self) -> Snapshot:
        if self.opts.address == "timeout":
            raise DeviceTimeout("no answer")
        if self.opts.address == "bug":
            raise KeyError("driver bug")
        return Snapshot(stats=MinerStats(status="online", hashrate=1.0))

    async def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def scripted_family(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry._FACTORIES, "scripted", ScriptedDriver)
    yield
    assert "antminer" in registry.families()


def thing(thing_id: str, address: str, **opts: object) -> AgentThing:
    return AgentThing(
        id=thing_id,
        code=thing_id,
        type="miner",
        opts={"family": "scripted", "address": address, **opts},
    )


async def test_failures_are_isolated_and_polling_goes_on() -> None:
    results: list[tuple[str, str | None]] = []
    poller = Poller(lambda tid, _ts, _snap, err: results.append((tid, err)), interval=0.05)
    poller.set_things(
        [
            thing("ok", "fine"),
            thing("slow", "timeout"),
            thing("bad", "bug"),
            thing("broken", "fine", port="not-a-port"),
        ]
    )
    try:
        async with asyncio.timeout(10):
            # Each thing has its own jittered schedule: wait until every polled one has run
            # a few times rather than assuming they keep pace with each other.
            while any(
                sum(1 for tid, _ in results if tid == want) < 3 for want in ("ok", "slow", "bad")
            ):
                await asyncio.sleep(0.02)
    finally:
        await poller.stop()
    by_thing = {tid: {err for t, err in results if t == tid} for tid, _ in results}
    assert by_thing["ok"] == {None}
    assert by_thing["slow"] == {"ERR_DEVICE_TIMEOUT"}
    assert by_thing["bad"] == {"ERR_DRIVER"}
    assert "broken" not in by_thing
    assert sum(1 for tid, _ in results if tid == "ok") >= 3


async def test_set_things_restarts_changed_and_stops_removed() -> None:
    poller = Poller(lambda *_: None, interval=10)
    poller.set_things([thing("a", "fine"), thing("b", "fine")])
    assert poller.things == 2
    poller.set_things([thing("a", "fine", interval=5.0)])
    assert poller.things == 1
    await poller.stop()
    assert poller.things == 0
