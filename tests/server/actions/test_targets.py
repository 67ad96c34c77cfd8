"""Query → per-rack calls: permissions, capabilities, racks, thresholds, rack actions."""

from __future__ import annotations

from typing import Any

import pytest

from hashfleet.core.errors import HashfleetError
from hashfleet.server.actions.targets import check_request, resolve
from hashfleet.server.auth.principal import Principal
from hashfleet.server.live.index import LiveIndex

RACKS: dict[str, dict[str, Any]] = {
    "rack-a": {"id": "rack-a", "type": "miner", "info": {}},
    "rack-b": {
        "id": "rack-b",
        "type": "miner",
        "info": {"actionVotes": {"*": {"reqVotesPos": 2}, "reboot": {"reqVotesNeg": 2}}},
    },
}


def thing(tid: str, rack: str | None, family: str, ttype: str = "miner") -> dict[str, Any]:
    return {
        "id": tid,
        "code": f"C-{tid}",
        "type": ttype,
        "rack": rack,
        "tags": [f"t-{ttype}", "hot" if tid.endswith("0") else "cold"],
        "info": {},
        "opts": {"family": family, "address": "127.0.0.1"},
    }


@pytest.fixture
def live() -> LiveIndex:
    index = LiveIndex()
    for doc in [
        thing("a0", "rack-a", "antminer"),
        thing("a1", "rack-a", "antminer"),
        thing("b0", "rack-b", "whatsminer"),
        thing("x0", "rack-b", "xmrig"),  # no reboot capability
        thing("n0", None, "antminer"),  # no rack
        thing("c0", "rack-a", "container", "container"),
    ]:
        index.put_thing(doc)
    return index


def run(live: LiveIndex, who: Principal, query: Any, action: str, params: Any = None) -> Any:
    req = check_request(query, action, params)
    return resolve(req, live, RACKS.get, lambda t: who.can(t, "w"))


OPERATOR = Principal(kind="user", name="ann", role="operator")
MINERS_ONLY = Principal(kind="user", name="mo", permissions=frozenset({"miner:rw"}))


def errors(res: Any) -> dict[str, list[str]]:
    return {e["error"]: e.get("ids", []) for e in res.errors}


def test_resolve_groups_per_rack_with_thresholds(live: LiveIndex) -> None:
    res = run(live, OPERATOR, {}, "reboot")
    assert {r: [c["id"] for c in t["calls"]] for r, t in res.targets.items()} == {
        "rack-a": ["a0", "a1"],
        "rack-b": ["b0"],
    }
    assert (res.targets["rack-a"]["reqVotesPos"], res.targets["rack-a"]["reqVotesNeg"]) == (1, 1)
    assert (res.targets["rack-b"]["reqVotesPos"], res.targets["rack-b"]["reqVotesNeg"]) == (2, 2)
    assert errors(res) == {
        "ERR_ACTION_UNSUPPORTED": ["x0", "c0"],
        "ERR_ACTION_NO_RACK": ["n0"],
    }
    assert res.targets["rack-a"]["calls"][0] == {"id": "a0", "type": "miner", "code": "C-a0"}


def test_resolve_filters_by_query_and_permission(live: LiveIndex) -> None:
    res = run(live, OPERATOR, {"tags": {"$in": ["hot"]}}, "setCooling", [20])
    assert [c["id"] for c in res.targets["rack-a"]["calls"]] == ["c0"]
    res = run(live, MINERS_ONLY, {"tags": {"$in": ["hot"]}}, "set_cooling", [20])
    assert res.empty
    # The hot miners may be written but cannot cool; the container may not be written.
    assert errors(res) == {
        "ERR_ACTION_DENIED": ["c0"],
        "ERR_ACTION_UNSUPPORTED": ["a0", "b0", "x0", "n0"],
        "ERR_ORK_ACTION_CALLS_EMPTY": [],
    }
    viewer = Principal(kind="user", name="vic", role="viewer")
    assert run(live, viewer, {}, "reboot").empty


@pytest.mark.parametrize(
    ("query", "action", "params", "code"),
    [
        ([], "reboot", [], "ERR_QUERY_INVALID"),
        (None, "reboot", [], "ERR_QUERY_INVALID"),
        ({"a": {"$bogus": 1}}, "reboot", [], "ERR_QUERY_INVALID"),
        ({}, "", [], "ERR_ACTION_INVALID"),
        ({}, 5, [], "ERR_ACTION_INVALID"),
        ({}, "launchRockets", [], "ERR_ACTION_INVALID"),
        ({}, "reboot", {"a": 1}, "ERR_PARAMS_INVALID"),
        ({}, "registerThing", [], "ERR_ACTION_INVALID_MISSING_RACKID"),
        ({}, "forgetThings", [{"id": "a0"}], "ERR_ACTION_INVALID_MISSING_RACKID"),
        (None, "rackReboot", [], "ERR_ACTION_INVALID_MISSING_RACKID"),
        (None, "rackReboot", [{"rackId": 7}], "ERR_ACTION_INVALID_MISSING_RACKID"),
        ({}, "updateThing", [{"rackId": "rack-a"}], "ERR_ACTION_INVALID_MISSING_ID"),
        (
            {},
            "forgetThings",
            [{"rackId": "rack-a", "query": {"id": 5}}],
            "ERR_ACTION_INVALID_QUERY_ID",
        ),
    ],
)
def test_check_request_codes(query: Any, action: Any, params: Any, code: str) -> None:
    with pytest.raises(HashfleetError) as exc:
        check_request(query, action, params)
    assert exc.value.code == code


def test_rack_actions(live: LiveIndex) -> None:
    res = run(live, OPERATOR, None, "updateThing", [{"rackId": "rack-a", "id": "c0", "info": {}}])
    assert res.targets == {
        "rack-a": {
            "calls": [{"id": "c0", "type": "container", "rack": "rack-a"}],
            "reqVotesPos": 1,
            "reqVotesNeg": 1,
        }
    }
    res = run(
        live, MINERS_ONLY, None, "forgetThings", [{"rackId": "rack-a", "query": {"id": "c0"}}]
    )
    assert res.empty and "ERR_ACTION_DENIED" in errors(res)
    res = run(live, OPERATOR, None, "registerThing", [{"rackId": "rack-z"}])
    assert res.empty and errors(res)["ERR_RACK_ID_INVALID"] == ["rack-z"]
    res = run(live, OPERATOR, None, "registerThing", [{"rackId": "rack-b"}])
    assert res.targets["rack-b"]["calls"][0]["id"] == "rack-b"
    assert res.targets["rack-b"]["reqVotesPos"] == 2


def test_rack_reboot_is_one_call_on_the_rack_needing_write_on_its_type(live: LiveIndex) -> None:
    req = check_request(None, "rackReboot", [{"rackId": "rack-b"}])
    assert req.method == "rackReboot"
    res = run(live, OPERATOR, None, "rackReboot", [{"rackId": "rack-b"}])
    assert res.targets == {
        "rack-b": {
            "calls": [{"id": "rack-b", "type": "miner", "rack": "rack-b"}],
            "reqVotesPos": 2,  # the rack's "*" threshold applies like to any action
            "reqVotesNeg": 1,
        }
    }
    assert not res.errors
    # A given type does not matter: the rack's type is what the restart touches.
    res = run(live, MINERS_ONLY, None, "rackReboot", [{"rackId": "rack-a", "type": "container"}])
    assert res.targets["rack-a"]["calls"][0]["type"] == "miner"
    containers_only = Principal(kind="user", name="co", permissions=frozenset({"container:rw"}))
    res = run(live, containers_only, None, "rackReboot", [{"rackId": "rack-a"}])
    assert res.empty and errors(res)["ERR_ACTION_DENIED"] == ["rack-a"]
    res = run(live, OPERATOR, None, "rackReboot", [{"rackId": "rack-z"}])
    assert res.empty and errors(res)["ERR_RACK_ID_INVALID"] == ["rack-z"]
