"""ActionService on SQLite and PostgreSQL: persistence, reload, executor hook, channel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import HashfleetError
from hashfleet.server.actions.service import ACTIONS_CHANNEL, ActionService
from hashfleet.server.auth.principal import Principal
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import Registry
from hashfleet.server.store import actions as action_store
from hashfleet.server.store.engine import create_engine, migrate

ANN = Principal(kind="user", name="ann", role="operator")
BOB = Principal(kind="user", name="bob", role="operator")
CID = Principal(kind="user", name="cid", role="operator")
ADMIN = Principal(kind="user", name="root", role="admin")


async def setup(engine: AsyncEngine, clock: Any = None) -> ActionService:
    live = LiveIndex()
    registry = Registry(engine, live)
    await registry.load()
    service = ActionService(engine, live, registry, **({"clock": clock} if clock else {}))
    await service.load()
    service.start()
    return service


async def fleet(service: ActionService) -> None:
    reg = service.registry
    await reg.register_rack("rack-a", "miner", {})
    await reg.register_rack("rack-b", "miner", {"actionVotes": {"*": {"reqVotesPos": 2}}})
    await reg.register_things(
        [
            {
                "rack": r,
                "id": f"{r}-m{i}",
                "code": f"{r}-c{i}",
                "opts": {"family": "antminer", "address": f"10.0.{j}.{i}"},
            }
            for j, r in enumerate(("rack-a", "rack-b"))
            for i in range(2)
        ]
    )


@pytest.fixture
async def engine(db_url: str) -> Any:
    eng = create_engine(db_url)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


async def test_lifecycle_persisted_and_reloaded(engine: AsyncEngine) -> None:
    service = await setup(engine)
    await fleet(service)
    pushed = await service.push(ANN, {}, "reboot", [])
    doc = pushed["data"]
    assert pushed["id"] == doc["id"] and pushed["errors"] == []
    assert (doc["state"], doc["reqVotesPos"], doc["votes"]) == ("voting", 2, {"ann": True})
    assert sorted(doc["targets"]) == ["rack-a", "rack-b"]
    # Only rack-a's things: rack-a asks for the default single vote, so it is born ready.
    small = await service.push(ANN, {"rack": "rack-a"}, "reboot", [])
    assert small["data"]["state"] == "ready" and small["id"] > doc["id"]
    stored = await action_store.get_action(engine, doc["id"])
    assert stored == doc
    await service.stop()

    # A restart: the open actions come back, ids continue above the stored ones.
    again = await setup(engine)
    assert [d["id"] for d in again.open_actions()] == [doc["id"], small["id"]]
    assert await again.vote(BOB, doc["id"], True) == 1
    assert (await again.get(doc["id"]) or {})["state"] == "ready"
    third = await again.push(BOB, {"id": "rack-a-m0"}, "reboot", [])
    assert third["id"] > small["id"]
    # Execution hooks: start, results, done (and the action leaves the open set).
    running = await again.start_execution(doc["id"])
    assert running["state"] == "executing"
    for thing_id in ("rack-a-m0", "rack-a-m1", "rack-b-m0"):
        await again.record_result(doc["id"], thing_id, "completed", result={"ok": 1})
    final = await again.record_result(doc["id"], "rack-b-m1", "failed", error="ERR_DEVICE_OFFLINE")
    assert final["state"] == "done"
    assert doc["id"] not in [d["id"] for d in again.open_actions()]
    assert (await action_store.get_action(engine, doc["id"])) == final
    await again.stop()


async def test_concurrent_votes_and_vote_rules(engine: AsyncEngine) -> None:
    service = await setup(engine)
    await fleet(service)
    await service.registry.register_rack(
        "rack-c", "miner", {"actionVotes": {"*": {"reqVotesPos": 4}}}
    )
    await service.registry.register_things(
        [{"rack": "rack-c", "id": "c0", "opts": {"family": "antminer", "address": "10.0.9.9"}}]
    )
    pushed = await service.push(ANN, {"rack": "rack-c"}, "reboot", [])
    aid = pushed["id"]
    assert pushed["data"]["reqVotesPos"] == 4
    # Three approvals at once (and bob twice): each counted exactly once, then ready.
    dan = Principal(kind="user", name="dan", role="operator")
    votes = [service.vote(p, aid, True) for p in (BOB, CID, BOB, dan)]
    assert await asyncio.gather(*votes) == [1, 1, 1, 1]
    doc = await service.get(aid)
    assert doc is not None and doc["votes"] == {"ann": True, "bob": True, "cid": True, "dan": True}
    assert doc["state"] == "ready"
    with pytest.raises(HashfleetError) as exc:
        await service.vote(ADMIN, aid, True)
    assert exc.value.code == "ERR_ACTION_STATE_INVALID"
    with pytest.raises(HashfleetError) as exc:
        await service.vote(BOB, 999, True)
    assert exc.value.code == "ERR_ACTION_NOTFOUND"
    other = await service.push(ANN, {"rack": "rack-b"}, "reboot", [])
    # The creator approved by pushing and cannot turn against it (cancel instead).
    with pytest.raises(HashfleetError) as exc:
        await service.vote(ANN, other["id"], False)
    assert exc.value.code == "ERR_ACTION_VOTE_CHANGED"
    # A negative vote cancels (reqVotesNeg = 1).
    await service.vote(BOB, other["id"], False)
    assert (await service.get(other["id"]) or {})["state"] == "cancelled"
    assert (await action_store.get_action(engine, other["id"]) or {})["state"] == "cancelled"
    await service.stop()


async def test_executor_hook_and_channel(engine: AsyncEngine) -> None:
    service = await setup(engine)
    await fleet(service)
    offered: list[int] = []

    async def executor(doc: dict[str, Any]) -> None:
        offered.append(doc["id"])
        await service.start_execution(doc["id"])

    waiting = await service.push(ANN, {"rack": "rack-a"}, "reboot", [])  # ready, no executor
    await asyncio.sleep(0)
    assert (await service.get(waiting["id"]) or {})["state"] == "ready"
    service.set_executor(executor)
    pushed = await service.push(ANN, {"rack": "rack-a"}, "reboot", [])
    for _ in range(100):
        if all(d["state"] == "executing" for d in service.open_actions()):
            break
        await asyncio.sleep(0.01)
    assert sorted(offered) == [waiting["id"], pushed["id"]]
    assert (await service.get(pushed["id"]) or {})["state"] == "executing"
    state = service.full_state()
    assert [d["id"] for d in state["actions"]] == [waiting["id"], pushed["id"]]
    await service.cancel_many(ANN, [waiting["id"], pushed["id"]])  # executing: skipped
    cancelled = await service.push(ANN, {"rack": "rack-b"}, "reboot", [])
    assert await service.cancel_many(ANN, [cancelled["id"]]) == 1
    diff = service.diff({str(cancelled["id"]), str(pushed["id"])})
    assert diff["remove"] == [cancelled["id"]]
    assert [d["id"] for d in diff["upsert"]] == [pushed["id"]]
    assert ACTIONS_CHANNEL in service.live.providers
    await service.stop()


async def test_batches_queries_and_cancel(engine: AsyncEngine) -> None:
    ticks = iter(range(10_000, 20_000, 10))
    service = await setup(engine, clock=lambda: next(ticks))
    await fleet(service)
    items = [{"query": {"rack": "rack-b"}, "action": "reboot", "params": []}] * 3
    items.append({"query": {"id": "nothing"}, "action": "reboot"})
    out = await service.push_batch(ANN, items, "maint-1")
    assert [o["id"] is None for o in out] == [False, False, False, True]
    assert out[3]["errors"][0]["error"] == "ERR_ORK_ACTION_CALLS_EMPTY"
    uid = out[0]["data"]["batchActionUID"]
    prefix, _, name = uid.partition("-")
    assert name == "maint-1" and prefix.isdigit()
    assert len({o["data"]["batchActionUID"] for o in out[:3]}) == 1
    lone = await service.push(BOB, {"rack": "rack-b"}, "setPowerMode", ["sleep"])
    # A bad item creates nothing.
    with pytest.raises(HashfleetError) as exc:
        await service.push_batch(ANN, [items[0], {"query": {}, "action": ""}], "x")
    assert exc.value.code == "ERR_ACTION_INVALID"
    ids = [o["id"] for o in out[:3]]

    got = await service.query([{"type": "voting", "opts": {"limit": 10}}])
    assert [d["id"] for d in got["voting"]] == [lone["id"], *reversed(ids)]
    # The batch was created at one tick, the lone action at a later one.
    created = out[0]["data"]["createdAt"]
    assert lone["data"]["createdAt"] > created
    got = await service.query([{"type": "voting", "filter": {"gt": created}, "fields": {"id": 1}}])
    assert got["voting"] == [{"id": lone["id"]}]
    got = await service.query(
        [{"type": "voting", "filter": {"gte": created, "lt": lone["data"]["createdAt"]}}]
    )
    assert [d["id"] for d in got["voting"]] == list(reversed(ids))
    got = await service.query(
        [{"type": "voting", "filter": {"lte": created}, "opts": {"limit": 1}}]
    )
    assert [d["id"] for d in got["voting"]] == [ids[2]]
    got = await service.query([{"type": "voting", "query": {"action": {"$eq": "setPowerMode"}}}])
    assert [d["id"] for d in got["voting"]] == [lone["id"]]
    grouped = await service.query([{"type": "voting"}], group_batch=True)
    assert [(g["batchActionUID"], len(g["actions"])) for g in grouped["voting"]] == [
        (None, 1),
        (uid, 3),
    ]
    assert grouped["voting"][1]["id"] == prefix
    batch = await service.get_many([ids[0], 424242])
    assert batch[0]["type"] == "voting" and batch[0]["action"]["id"] == ids[0]
    assert batch[1] is None

    # Cancelling: bob may not cancel ann's batch (nothing is cancelled), an admin may.
    with pytest.raises(HashfleetError) as exc:
        await service.cancel_many(BOB, [lone["id"], ids[0]])
    assert exc.value.code == "ERR_ACTION_CANCEL_DENIED"
    assert (await service.get(lone["id"]) or {})["state"] == "voting"
    assert await service.cancel_many(BOB, [lone["id"]]) == 1
    assert await service.cancel_many(ADMIN, None, uid) == 3
    assert await service.cancel_many(ADMIN, ids) == 0  # already cancelled
    got = await service.query([{"type": "cancelled"}, {"type": "voting"}])
    assert len(got["cancelled"]) == 4 and got["voting"] == []
    assert len(await action_store.actions_of_batch(engine, uid)) == 3
    await service.stop()


async def test_votes_at_once_on_two_servers_are_all_counted(engine: AsyncEngine) -> None:
    one = await setup(engine)
    await fleet(one)
    await one.registry.register_rack("rack-c", "miner", {"actionVotes": {"*": {"reqVotesPos": 5}}})
    await one.registry.register_things(
        [{"rack": "rack-c", "id": "c0", "opts": {"family": "antminer", "address": "10.0.9.9"}}]
    )
    two = await setup(engine)
    heard: list[Any] = []

    async def announce(kind: str, data: dict[str, Any]) -> None:
        heard.append(data)

    one.announce = two.announce = announce  # two servers on one store
    aid = (await one.push(ANN, {"rack": "rack-c"}, "reboot", []))["id"]
    dan = Principal(kind="user", name="dan", role="operator")
    eve = Principal(kind="user", name="eve", role="operator")
    # Each server reads the action, then writes it: without a compare-and-set the later
    # write would drop the other server's vote.
    votes = [one.vote(BOB, aid, True), two.vote(CID, aid, True), one.vote(dan, aid, True)]
    await asyncio.gather(*votes, two.vote(eve, aid, True))
    stored = await action_store.get_action(engine, aid)
    assert stored is not None
    assert stored["votes"] == {"ann": True, "bob": True, "cid": True, "dan": True, "eve": True}
    assert stored["state"] == "ready" and len(heard) == 5  # the push, then each vote
    # A cancel on a server whose copy is older than the store (a vote on the other server
    # it has not heard of): written over the stored version, the vote kept in it.
    other = (await one.push(ANN, {"rack": "rack-c"}, "reboot", []))["id"]
    await two.vote(BOB, other, True)
    assert await one.cancel_many(ANN, [other]) == 1
    final = await action_store.get_action(engine, other)
    assert final is not None and final["state"] == "cancelled"
    assert final["votes"] == {"ann": True, "bob": True}
    await one.stop()
    await two.stop()
