"""Actions over HTTP: push, votes by the caller only, permissions, batches, queries, cancel."""

from __future__ import annotations

import time
from typing import Any

import httpx

from hashfleet.server.store.jobs import jobs_of_action
from tests.server.api.test_rpc import call
from tests.support.live_server import LiveServer


def bearer(server: LiveServer, username: str, role: str, write: bool = True) -> dict[str, str]:
    """Headers of a new user's API token."""
    state = server.state
    assert state is not None
    uid = server.call(state.auth.create_user(username, f"{username}-password", role))
    token = server.call(state.auth.create_api_token(uid, "tests", write))
    return {"Authorization": f"Bearer {token}"}


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    code: str = resp.json()["error"]
    return code


def setup_fleet(server: LiveServer) -> None:
    """rack-a (default thresholds) and rack-b (2 approvals), two antminers and an xmrig."""
    votes = {"actionVotes": {"*": {"reqVotesPos": 2, "reqVotesNeg": 1}}}
    assert ok(call(server, "registerRack", {"id": "rack-a", "type": "miner"})) == 1
    assert ok(call(server, "registerRack", {"id": "rack-b", "type": "miner", "info": votes})) == 1
    things = [
        ("a0", "rack-a", "antminer"),
        ("b0", "rack-b", "antminer"),
        ("b1", "rack-b", "xmrig"),
    ]
    for i, (tid, rack, family) in enumerate(things):
        body = {
            "rack": rack,
            "id": tid,
            "code": f"C-{tid}",
            "opts": {"family": family, "address": f"127.0.2.{i + 1}"},
        }
        assert ok(call(server, "registerThing", body)) == 1


def test_two_operator_approval(live_server: LiveServer) -> None:
    setup_fleet(live_server)
    ann = bearer(live_server, "ann", "operator")
    bob = bearer(live_server, "bob", "operator")
    viewer = bearer(live_server, "vic", "viewer")
    read_only = bearer(live_server, "rex", "operator", write=False)

    body = {
        "query": {"rack": "rack-b"},
        "action": "reboot",
        "params": [],
        "voter": "someone-else",  # ignored: the voter is the caller
        "authPerms": ["*:rw"],  # ignored: permissions come from the caller
    }
    pushed = ok(call(live_server, "pushAction", body, ann))
    aid = pushed["id"]
    data = pushed["data"]
    assert data["state"] == "voting" and data["votes"] == {"ann": True}
    assert (data["reqVotesPos"], data["reqVotesNeg"]) == (2, 1)
    assert data["creator"] == "ann" and data["requiredPerms"] == ["miner"]
    assert [c["id"] for c in data["targets"]["rack-b"]["calls"]] == ["b0"]
    # The xmrig cannot reboot: left out and said so.
    assert [(e["error"], e["ids"]) for e in pushed["errors"]] == [
        ("ERR_ACTION_UNSUPPORTED", ["b1"])
    ]

    assert error(call(live_server, "pushAction", body, viewer), 403) == "ERR_ACTION_DENIED"
    assert error(call(live_server, "pushAction", body, read_only), 403) == "ERR_ACTION_DENIED"
    vote = {"id": aid, "approve": True, "voter": "ann"}
    assert error(call(live_server, "voteAction", vote, viewer), 403) == "ERR_ACTION_DENIED"
    got = ok(call(live_server, "getAction", {"id": aid}, viewer))
    assert got["votes"] == {"ann": True} and got["state"] == "voting"

    assert ok(call(live_server, "voteAction", vote, bob)) == 1  # counted as bob, not ann
    # Approved: it is handed at once to the agents' job queue, one job per target.
    deadline = time.monotonic() + 10
    while (got := ok(call(live_server, "getAction", {"id": aid}, viewer)))["state"] == "ready":
        assert time.monotonic() < deadline, "the approved action was never executed"
        time.sleep(0.05)
    assert got["votes"] == {"ann": True, "bob": True} and got["state"] == "executing"
    assert ok(call(live_server, "getAction", {"id": aid, "type": "voting"})) is None
    assert ok(call(live_server, "getAction", {"id": aid, "type": "executing"}))["id"] == aid
    state = live_server.state
    assert state is not None
    queued = live_server.call(jobs_of_action(state.engine, aid))
    assert sorted(j["thing_id"] for j in queued) == sorted(
        c["id"] for t in got["targets"].values() for c in t["calls"]
    )
    assert ok(call(live_server, "getAction", {"id": 12345})) is None
    assert ok(call(live_server, "voteAction", vote, bob)) == 1  # a retry changes nothing
    assert error(call(live_server, "voteAction", {"id": aid, "approve": False}, bob), 409) == (
        "ERR_ACTION_STATE_INVALID"
    )

    # A negative vote cancels.
    second = ok(call(live_server, "pushAction", body, ann))["id"]
    assert ok(call(live_server, "voteAction", {"id": second, "approve": False}, bob)) == 1
    assert ok(call(live_server, "getAction", {"id": second}))["state"] == "cancelled"
    # Nothing to run: no action, id null.
    empty = ok(call(live_server, "pushAction", {"query": {"id": "b1"}, "action": "reboot"}, ann))
    assert empty["id"] is None and empty["data"] is None
    assert empty["errors"][-1]["error"] == "ERR_ORK_ACTION_CALLS_EMPTY"
    # rack-a alone: the default single vote — the creator's — approves at once.
    single = ok(
        call(live_server, "pushAction", {"query": {"rack": "rack-a"}, "action": "reboot"}, ann)
    )
    assert single["data"]["state"] == "ready"


def test_request_errors(live_server: LiveServer) -> None:
    setup_fleet(live_server)
    cases = [
        ({"query": [], "action": "reboot"}, "ERR_QUERY_INVALID"),
        ({"query": {}, "action": ""}, "ERR_ACTION_INVALID"),
        ({"query": {}, "action": "reboot", "params": "x"}, "ERR_PARAMS_INVALID"),
        ({"action": "updateThing", "params": [{}]}, "ERR_ACTION_INVALID_MISSING_RACKID"),
        (
            {"action": "updateThing", "params": [{"rackId": "rack-a"}]},
            "ERR_ACTION_INVALID_MISSING_ID",
        ),
        (
            {"action": "forgetThings", "params": [{"rackId": "rack-a", "query": {"id": 1}}]},
            "ERR_ACTION_INVALID_QUERY_ID",
        ),
    ]
    for body, code in cases:
        assert error(call(live_server, "pushAction", body), 400) == code, body
    assert error(call(live_server, "voteAction", {"id": "x", "approve": True}), 400) == (
        "ERR_ACTION_ID_INVALID"
    )
    assert error(call(live_server, "voteAction", {"id": 99, "approve": True}), 404) == (
        "ERR_ACTION_NOTFOUND"
    )
    too_many = {"batchActionsPayload": [{"query": {}, "action": "reboot"}] * 1001}
    assert error(call(live_server, "pushActionsBatch", too_many), 400) == "ERR_PAYLOAD_INVALID"
    assert error(call(live_server, "pushActionsBatch", {"batchActionsPayload": []}), 400) == (
        "ERR_PAYLOAD_INVALID"
    )
    assert error(call(live_server, "queryActions", {"queries": [{"type": "nope"}]}), 400) == (
        "ERR_TYPE_INVALID"
    )
    anon = httpx.post(f"{live_server.url}/rpc/queryActions", json={"queries": [{"type": "done"}]})
    assert anon.status_code == 401


def test_batches_queries_cancel(live_server: LiveServer) -> None:
    setup_fleet(live_server)
    ann = bearer(live_server, "ann", "operator")
    bob = bearer(live_server, "bob", "operator")
    viewer = bearer(live_server, "vic", "viewer")
    item = {"query": {"rack": "rack-b"}, "action": "reboot", "params": []}
    batch = {"batchActionsPayload": [item, {**item, "action": "setPowerMode", "params": ["sleep"]}]}
    out = ok(call(live_server, "pushActionsBatch", {**batch, "batchActionUID": "maint-001"}, ann))
    assert len(out) == 2 and all(o["data"]["state"] == "voting" for o in out)
    uid = out[0]["data"]["batchActionUID"]
    stamp, _, name = uid.partition("-")
    assert name == "maint-001" and stamp.isdigit() and abs(int(stamp) - out[0]["id"]) < 60_000
    assert out[1]["data"]["batchActionUID"] == uid
    lone = ok(call(live_server, "pushAction", item, bob))["id"]
    ids = [o["id"] for o in out]

    batch_read = ok(call(live_server, "getActionsBatch", {"ids": [ids[0], 1, lone]}, viewer))
    assert batch_read[0]["type"] == "voting" and batch_read[0]["action"]["id"] == ids[0]
    assert batch_read[1] is None and batch_read[2]["action"]["id"] == lone

    q = {
        "queries": [{"type": "voting", "query": {"action": {"$eq": "reboot"}}, "fields": {"id": 1}}]
    }
    assert ok(call(live_server, "queryActions", q, viewer)) == {
        "voting": [{"id": lone}, {"id": ids[0]}]
    }
    created = out[0]["data"]["createdAt"]
    q = {"queries": [{"type": "voting", "filter": {"lte": created}, "opts": {"limit": 5}}]}
    assert [a["id"] for a in ok(call(live_server, "queryActions", q))["voting"]] == ids[::-1]
    grouped = ok(
        call(live_server, "queryActions", {"queries": [{"type": "voting"}], "groupBatch": True})
    )["voting"]
    assert [(g["batchActionUID"], [a["id"] for a in g["actions"]]) for g in grouped] == [
        (None, [lone]),
        (uid, ids[::-1]),
    ]
    assert grouped[1]["id"] == stamp

    # Cancel: only the creator or an admin; viewers and others are refused, nothing changes.
    assert error(call(live_server, "cancelActionsBatch", {"ids": ids}, bob), 403) == (
        "ERR_ACTION_CANCEL_DENIED"
    )
    # A viewer may not act at all: refused before the ids are looked at.
    assert error(call(live_server, "cancelActionsBatch", {"ids": [lone]}, viewer), 403) == (
        "ERR_ACTION_DENIED"
    )
    assert ok(call(live_server, "cancelActionsBatch", {"ids": ids, "voter": "bob"}, ann)) == 2
    assert ok(call(live_server, "cancelActionsBatch", {"ids": ids}, ann)) == 0
    assert ok(call(live_server, "cancelActionsBatch", {"ids": [lone]})) == 1  # admin
    done = ok(
        call(live_server, "queryActions", {"queries": [{"type": "cancelled"}, {"type": "voting"}]})
    )
    assert len(done["cancelled"]) == 3 and done["voting"] == []
