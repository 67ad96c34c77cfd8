"""The auto-sleep automation on SQLite and PostgreSQL: a hand-filled live index, a real
ActionService, an injected clock; each ``tick`` is one decision."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.actions.service import ActionService
from hashfleet.server.auth.principal import Principal
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import Registry
from hashfleet.server.settings.autosleep import (
    AUTOMATION,
    STATE_KEY,
    AutoSleep,
    Candidate,
    efficiency,
    pick_sleepers,
)
from hashfleet.server.settings.service import SiteSettings
from hashfleet.server.store import kv
from hashfleet.server.store.engine import create_engine, migrate

MIN = 60_000
ANN = Principal(kind="user", name="ann", role="operator")
# rack-a: one vote (the automation's) approves; rack-b asks for two.
# (power W, hashrate TH/s) → J/TH: a0 30, a1 60 (worst), a2 40, a3 20 (best)
FLEET = {
    "a0": ("rack-a", 3000, 100),
    "a1": ("rack-a", 3000, 50),
    "a2": ("rack-a", 3000, 75),
    "a3": ("rack-a", 3000, 150),
}
CONFIG = {
    "isAutoSleepAllowed": True,
    "autoSleep": {"maxSitePowerW": 10_000, "resumeBelowW": 7_000, "holdMinutes": 5},
}


class Clock:
    """A settable ms clock."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += int(minutes * MIN)


@dataclass
class World:
    engine: AsyncEngine
    live: LiveIndex
    actions: ActionService
    site: SiteSettings
    auto: AutoSleep
    clock: Clock
    ts: itertools.count[int]

    def report(self, thing_id: str, power_w: float, th: float, status: str = "online") -> None:
        """A snapshot arrives for ``thing_id``."""
        stats = {"status": status, "power_w": power_w, "hashrate": th * 1e12}
        row = {"thing_id": thing_id, "ts": next(self.ts), "err": None}
        self.live.apply([{**row, "doc": {"stats": stats, "config": {}}}])

    async def finish(self, answer: dict[str, Any], state: str = "completed") -> None:
        """Run a ready action to the end: every target gets ``state``."""
        action_id = answer["id"]
        await self.actions.start_execution(action_id)
        for target in answer["data"]["targets"].values():
            for call in target["calls"]:
                await self.actions.record_result(action_id, call["id"], state)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


async def make_world(engine: AsyncEngine, clock: Clock | None = None) -> World:
    live = LiveIndex()
    registry = Registry(engine, live)
    await registry.load()
    actions = ActionService(engine, live, registry)
    await actions.load()
    actions.start()
    site = SiteSettings(engine, live)
    await site.load()
    clock = clock or Clock()
    auto = AutoSleep(site, live, actions, clock=clock)
    await auto.load()
    return World(engine, live, actions, site, auto, clock, itertools.count(1))


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    w = await make_world(engine)
    await w.actions.registry.register_rack("rack-a", "miner", {})
    await w.actions.registry.register_rack(
        "rack-b", "miner", {"actionVotes": {"*": {"reqVotesPos": 2}}}
    )
    await w.actions.registry.register_things(
        [
            {"rack": rack, "id": tid, "code": f"c-{tid}",
             "opts": {"family": "antminer", "address": f"10.0.0.{i}"}}
            for i, (tid, (rack, _, _)) in enumerate(FLEET.items())
        ]
    )  # fmt: skip
    for tid, (_, power, th) in FLEET.items():
        w.report(tid, power, th)
    await w.site.set_global_config(CONFIG)
    return w


def test_efficiency_and_pick() -> None:
    assert efficiency({"power_w": 3000, "hashrate": 100e12}) == (3000.0, 30.0)
    assert efficiency({"power_w": 3000, "hashrate": 0}) == (3000.0, math.inf)
    assert efficiency({"hashrate": 100e12}) is None  # no reading: sleeping it shows nothing
    assert efficiency({"power_w": True}) is None
    ranked = [Candidate("x", 1000, 90), Candidate("y", 2000, 50), Candidate("z", 500, 40)]
    assert pick_sleepers(ranked, 900) == ["x"]
    assert pick_sleepers(ranked, 1000) == ["x"]
    assert pick_sleepers(ranked, 1001) == ["x", "y"]
    assert pick_sleepers(ranked, 10_000) == ["x", "y", "z"]  # short: all it has
    assert pick_sleepers(ranked, 0) == []


async def test_sleeps_the_least_efficient_after_the_hold(world: World) -> None:
    assert world.live.aggregates.total_power_w == 12_000
    assert await world.auto.tick() is None  # over the limit: the hold starts
    world.clock.advance(4.9)
    assert await world.auto.tick() is None
    world.clock.advance(0.1)
    answer = await world.auto.tick()
    assert answer is not None
    doc = answer["data"]
    # 2,000 W too much: the worst miner (a1, 60 J/TH, 3,000 W) is enough.
    assert doc["action"] == "setPowerMode" and doc["params"] == ["sleep"]
    assert [c["id"] for c in doc["targets"]["rack-a"]["calls"]] == ["a1"]
    assert doc["creator"] == AUTOMATION.name and doc["votes"] == {"automation": True}
    assert doc["state"] == "ready"  # rack-a needs one vote: the automation's
    stored = await kv.get_value(world.engine, STATE_KEY)
    assert stored == {"slept": [], "pending": {"id": answer["id"], "mode": "sleep", "ids": ["a1"]}}


async def test_enough_miners_for_a_larger_excess(world: World) -> None:
    await world.site.set_global_config({"autoSleep": {"maxSitePowerW": 8_000}})
    await world.site.set_global_config({"autoSleep": {"holdMinutes": 0}})
    answer = await world.auto.tick()
    assert answer is not None
    # 4,000 W over: a1 (60 J/TH) then a2 (40 J/TH).
    assert [c["id"] for c in answer["data"]["targets"]["rack-a"]["calls"]] == ["a1", "a2"]


async def test_hysteresis_restarts_the_hold(world: World) -> None:
    assert await world.auto.tick() is None
    world.clock.advance(4)
    world.report("a3", 500, 150)  # 9,500 W: under the limit, the hold is lost
    assert await world.auto.tick() is None
    world.clock.advance(2)
    world.report("a3", 3000, 150)  # over again: a new hold starts now
    assert await world.auto.tick() is None
    world.clock.advance(4)
    assert await world.auto.tick() is None
    world.clock.advance(1)
    answer = await world.auto.tick()
    assert answer is not None
    await world.finish(answer)
    world.report("a1", 0, 0, status="sleeping")  # 9,000 W
    # Between the thresholds nothing happens, however long.
    for _ in range(3):
        world.clock.advance(10)
        assert await world.auto.tick() is None
    assert world.auto.slept == {"a1"} and world.actions.open_actions() == []


async def test_one_open_action_at_a_time_then_wake(world: World) -> None:
    assert await world.auto.tick() is None
    world.clock.advance(5)
    first = await world.auto.tick()
    assert first is not None
    # Still over the limit for long: the open action is only watched.
    for _ in range(3):
        world.clock.advance(10)
        assert await world.auto.tick() is None
    assert [d["id"] for d in world.actions.open_actions()] == [first["id"]]

    await world.finish(first)
    world.report("a1", 0, 0, status="sleeping")  # 9,000 W: between the thresholds
    world.clock.advance(1)
    assert await world.auto.tick() is None
    assert world.auto.slept == {"a1"} and world.auto.pending is None

    # Power falls below resumeBelowW and stays there for the hold: wake what it slept.
    world.report("a0", 1000, 100)
    world.report("a2", 1000, 75)  # 5,000 W
    assert await world.auto.tick() is None
    world.clock.advance(5)
    wake = await world.auto.tick()
    assert wake is not None and wake["data"]["params"] == ["normal"]
    assert [c["id"] for c in wake["data"]["targets"]["rack-a"]["calls"]] == ["a1"]
    world.clock.advance(10)
    assert await world.auto.tick() is None  # watching the wake action
    await world.finish(wake)
    world.clock.advance(1)
    assert await world.auto.tick() is None
    assert world.auto.slept == set() and world.auto.pending is None
    assert await kv.get_value(world.engine, STATE_KEY) == {"slept": [], "pending": None}


async def test_other_votes_still_needed_and_cancel_changes_nothing(world: World) -> None:
    # Only rack-b's miner may be slept: rack-b asks for two votes.
    await world.actions.registry.register_things(
        [{"rack": "rack-b", "id": "b0", "code": "c-b0",
          "opts": {"family": "antminer", "address": "10.0.1.1"}}]
    )  # fmt: skip
    world.report("b0", 3000, 10)  # 300 J/TH: the worst of all
    await world.site.set_global_config(
        {"autoSleep": {"holdMinutes": 0, "query": {"rack": "rack-b"}}}
    )
    answer = await world.auto.tick()
    assert answer is not None
    assert answer["data"]["state"] == "voting" and answer["data"]["reqVotesPos"] == 2
    assert list(answer["data"]["targets"]) == ["rack-b"]
    # A person denies it: cancelled, nothing was slept, a new decision may follow.
    await world.actions.vote(ANN, answer["id"], False)
    again = await world.auto.tick()
    assert world.auto.slept == set()
    assert again is not None and again["id"] != answer["id"]
    await world.actions.vote(ANN, again["id"], True)
    assert (await world.actions.get(again["id"]) or {})["state"] == "ready"


async def test_failed_targets_are_not_counted_as_asleep(world: World) -> None:
    await world.site.set_global_config({"autoSleep": {"holdMinutes": 0, "maxSitePowerW": 8_000}})
    answer = await world.auto.tick()
    assert answer is not None
    await world.actions.start_execution(answer["id"])
    await world.actions.record_result(answer["id"], "a1", "completed")
    await world.actions.record_result(answer["id"], "a2", "failed", error="ERR_DEVICE_OFFLINE")
    world.report("a1", 0, 0, status="sleeping")
    world.report("a3", 1000, 150)  # 7,000 W: between the thresholds
    await world.auto.tick()
    assert world.auto.slept == {"a1"}


async def test_disabled_or_unconfigured_does_nothing(world: World) -> None:
    await world.site.set_global_config({"isAutoSleepAllowed": False})
    for _ in range(3):
        assert await world.auto.tick() is None
        world.clock.advance(60)
    await world.site.set_global_config({"isAutoSleepAllowed": True, "autoSleep": None})
    for _ in range(3):
        assert await world.auto.tick() is None
        world.clock.advance(60)
    assert world.actions.open_actions() == []


async def test_only_matching_online_capable_things(world: World) -> None:
    await world.actions.registry.register_things(
        [{"rack": "rack-a", "id": "x0", "code": "c-x0",
          "opts": {"family": "xmrig", "address": "10.0.2.1"}}]
    )  # fmt: skip
    world.report("x0", 3000, 0.001)  # the worst, but xmrig has no set_power_mode
    world.report("a1", 3000, 50, status="error")  # not online: adds no power, not chosen
    # 12,000 W online: a0 30, a2 40, a3 20 J/TH, x0 excluded
    await world.site.set_global_config(
        {"autoSleep": {"holdMinutes": 0, "query": {"id": {"$ne": "a2"}}}}
    )
    answer = await world.auto.tick()
    assert answer is not None
    assert [c["id"] for c in answer["data"]["targets"]["rack-a"]["calls"]] == ["a0"]


async def test_state_survives_a_restart(world: World) -> None:
    await world.site.set_global_config({"autoSleep": {"holdMinutes": 0}})
    answer = await world.auto.tick()
    assert answer is not None
    # A new server on the same store: the pending action is still watched, not repeated.
    other = await make_world(world.engine, world.clock)
    for tid, (_, power, th) in FLEET.items():
        other.report(tid, power, th)
    assert other.auto.pending is not None and other.auto.pending["id"] == answer["id"]
    assert other.site.config["autoSleep"]["holdMinutes"] == 0
    assert await other.auto.tick() is None
    await other.finish(answer)
    other.report("a1", 0, 0, status="sleeping")
    await other.auto.tick()
    assert other.auto.slept == {"a1"}
    third = await make_world(world.engine, world.clock)
    assert third.auto.slept == {"a1"} and third.auto.pending is None


async def test_background_loop_ticks(world: World) -> None:
    await world.site.set_global_config({"autoSleep": {"holdMinutes": 0}})
    world.auto.interval_s = 0.01
    world.auto.start()
    try:
        for _ in range(200):
            if world.actions.open_actions():
                break
            await asyncio.sleep(0.01)
    finally:
        await world.auto.stop()
    assert len(world.actions.open_actions()) == 1
