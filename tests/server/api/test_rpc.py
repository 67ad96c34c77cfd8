"""RPC over HTTP: the seeds' methods, their results and ERR_* codes, and who may call them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hashfleet.wire.codec import json_dumps
from tests.support.live_server import LiveServer

OPTS = {"family": "antminer", "address": "127.0.9.1"}


def call(
    server: LiveServer, method: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/rpc/{method}",
        json=body,
        headers=server.headers if headers is None else headers,
        timeout=10,
    )


def setup_rack(server: LiveServer, n: int = 3) -> None:
    assert call(server, "registerRack", {"id": "rack-a", "type": "miner"}).json() == 1
    for i in range(n):
        body = {
            "rack": "rack-a",
            "id": f"m{i}",
            "code": f"A-{i}",
            "tags": [f"row-{i % 2}"],
            "info": {"pos": i},
            "opts": {"family": "antminer", "address": f"127.0.1.{i + 1}"},
        }
        assert call(server, "registerThing", body).json() == 1


def test_ping_and_instance_id(live_server: LiveServer) -> None:
    assert call(live_server, "ping", {"hello": [1, 2]}).json() == {"hello": [1, 2]}
    first = call(live_server, "getInstanceId", {}).json()
    assert isinstance(first, str) and len(first) == 36
    assert call(live_server, "getInstanceId", {}).json() == first


def test_register_list_update_forget_things(live_server: LiveServer) -> None:
    setup_rack(live_server)
    things = call(live_server, "listThings", {"query": {"tags": {"$in": ["row-1"]}}}).json()
    assert [t["id"] for t in things] == ["m1"]
    assert "last" not in things[0]
    assert set(things[0]["tags"]) >= {"t-miner", "rack-rack-a", "id-m1", "code-A-1", "row-1"}
    with_status = call(live_server, "listThings", {"query": {"id": "m1"}, "status": 1}).json()
    assert "last" in with_status[0]
    sorted_desc = call(
        live_server, "listThings", {"sort": {"info.pos": -1}, "limit": 2, "fields": {"id": 1}}
    ).json()
    assert sorted_desc == [{"id": "m2"}, {"id": "m1"}]
    page = call(live_server, "listThings", {"sort": {"code": 1}, "offset": 1, "limit": 1}).json()
    assert [t["id"] for t in page] == ["m1"]
    assert call(live_server, "updateThing", {"id": "m0", "info": {"room": "B"}}).json() == 1
    m0 = call(live_server, "listThings", {"query": {"id": "m0"}}).json()[0]
    assert m0["info"] == {"pos": 0, "room": "B"}
    assert (
        call(
            live_server, "updateThing", {"id": "m0", "info": {"room": "C"}, "forceOverwrite": True}
        ).json()
        == 1
    )
    assert call(live_server, "listThings", {"query": {"id": "m0"}}).json()[0]["info"] == {
        "room": "C"
    }
    assert call(live_server, "forgetThings", {"query": {"info.room": "C"}}).json() == 1
    assert call(live_server, "forgetThings", {"ids": ["m1", "nope"]}).json() == 1
    assert [t["id"] for t in call(live_server, "listThings", {}).json()] == ["m2"]
    assert call(live_server, "forgetThings", {"all": True}).json() == 1


def test_racks(live_server: LiveServer) -> None:
    assert (
        call(
            live_server,
            "registerRack",
            {"id": "r-1", "type": "miner-am", "info": {"rpcPublicKey": "k"}},
        ).json()
        == 1
    )
    assert call(live_server, "registerRack", {"id": "r-2", "type": "container"}).json() == 1
    listed = call(live_server, "listRacks", {"type": "miner"}).json()
    assert listed == [{"id": "r-1", "type": "miner-am", "info": {}, "things": 0}]
    keyed = call(live_server, "listRacks", {"type": "miner", "keys": 1}).json()
    assert keyed[0]["info"] == {"rpcPublicKey": "k"}
    assert call(live_server, "forgetRacks", {"ids": ["r-2"]}).json() == 1
    assert [r["id"] for r in call(live_server, "listRacks", {}).json()] == ["r-1"]


@pytest.mark.parametrize(
    ("method", "body", "status", "code"),
    [
        ("registerRack", {"type": "miner"}, 400, "ERR_RACK_ID_INVALID"),
        ("registerRack", {"id": "x"}, 400, "ERR_RACK_TYPE_INVALID"),
        ("registerRack", {"id": "bad id!", "type": "miner"}, 400, "ERR_RACK_ID_INVALID"),
        ("registerThing", {"rack": "nope", "opts": OPTS}, 400, "ERR_RACK_ID_INVALID"),
        ("registerThing", {"rack": "rack-a"}, 400, "ERR_PAYLOAD_INVALID"),
        (
            "registerThing",
            {"rack": "rack-a", "id": "m0", "opts": OPTS},
            409,
            "ERR_THING_WITH_ID_ALREADY_EXISTS",
        ),
        (
            "registerThing",
            {"rack": "rack-a", "code": "A-0", "opts": OPTS},
            409,
            "ERR_THING_WITH_CODE_ALREADY_EXISTS",
        ),
        (
            "registerThing",
            {"rack": "rack-a", "code": "a b", "opts": OPTS},
            400,
            "ERR_THING_CODE_INVALID",
        ),
        (
            "registerThing",
            {"rack": "rack-a", "opts": {"family": "nope", "address": "x"}},
            400,
            "ERR_THING_OPTS_INVALID",
        ),
        (
            "registerThing",
            {"rack": "rack-a", "opts": {"family": "antminer"}},
            400,
            "ERR_THING_OPTS_INVALID",
        ),
        (
            "registerThing",
            {"rack": "rack-a", "opts": {**OPTS, "port": "four"}},
            400,
            "ERR_THING_OPTS_INVALID",
        ),
        ("updateThing", {"id": "m0", "opts": {"family": "nope"}}, 400, "ERR_THING_OPTS_INVALID"),
        ("updateThing", {"id": "ghost"}, 404, "ERR_THING_NOTFOUND"),
        ("updateThing", {}, 400, "ERR_PAYLOAD_INVALID"),
        ("listThings", {"query": {"$where": "x"}}, 400, "ERR_QUERY_INVALID"),
        ("listThings", {"query": {"a": {"$regex": "("}}}, 400, "ERR_QUERY_INVALID"),
        ("listThings", {"limit": -1}, 400, "ERR_PAYLOAD_INVALID"),
        ("listThings", {"sort": {"a": "up"}}, 400, "ERR_PAYLOAD_INVALID"),
        ("listThings", {"query": "all"}, 400, "ERR_PAYLOAD_INVALID"),
        ("forgetThings", {}, 400, "ERR_QUERY_INVALID"),
        ("forgetRacks", {}, 400, "ERR_KEYS_INVALID"),
        ("listRacks", {"type": 5}, 400, "ERR_PAYLOAD_INVALID"),
        ("noSuchMethod", {}, 404, "ERR_NOTFOUND"),
    ],
)
def test_bad_input_is_a_4xx_with_its_code(
    live_server: LiveServer, method: str, body: Any, status: int, code: str
) -> None:
    setup_rack(live_server, n=1)
    resp = call(live_server, method, body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == code
    assert resp.json()["message"]


def test_malformed_json_is_a_400(live_server: LiveServer) -> None:
    resp = httpx.post(
        f"{live_server.url}/rpc/listThings",
        content=b"{not json",
        headers={**live_server.headers, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "ERR_PAYLOAD_INVALID"


def test_no_call_without_auth_and_no_write_with_a_read_only_token(live_server: LiveServer) -> None:
    setup_rack(live_server, n=1)
    for method in ("listThings", "registerRack", "forgetThings", "ping"):
        resp = call(live_server, method, {"all": True}, headers={})
        assert resp.status_code == 401
        assert resp.json()["error"] == "ERR_AUTH_REQUIRED"
    bogus = call(live_server, "listThings", {}, headers={"Authorization": "Bearer hfa_nope"})
    assert bogus.status_code == 401
    state = live_server.state
    assert state is not None
    uid = live_server.call(state.auth.create_user("viewer1", "viewer-password", "viewer"))
    viewer = {
        "Authorization": f"Bearer {live_server.call(state.auth.create_api_token(uid, 'ro', True))}"
    }
    assert call(live_server, "listThings", {}, headers=viewer).status_code == 200
    for method, body in (
        ("registerRack", {"id": "z", "type": "miner"}),
        ("forgetThings", {"all": True}),
        ("updateThing", {"id": "m0"}),
        ("registerThing", {"rack": "rack-a", "opts": OPTS}),
        ("forgetRacks", {"all": True}),
    ):
        resp = call(live_server, method, body, headers=viewer)
        assert resp.status_code == 403, method
        assert resp.json()["error"] == "ERR_MISSING_WRITE_PERMISSIONS"
    admin_uid = live_server.call(state.auth.create_user("admin2", "admin2-password", "admin"))
    ro = live_server.call(state.auth.create_api_token(admin_uid, "ro", False))
    resp = call(
        live_server, "forgetThings", {"all": True}, headers={"Authorization": f"Bearer {ro}"}
    )
    assert resp.status_code == 403
    assert len(call(live_server, "listThings", {}).json()) == 1


def test_openapi_documents_every_rpc_method(live_server: LiveServer) -> None:
    spec = httpx.get(f"{live_server.url}/openapi.json").json()
    for method in (
        "ping",
        "getInstanceId",
        "registerThing",
        "updateThing",
        "listThings",
        "forgetThings",
        "registerRack",
        "listRacks",
        "forgetRacks",
    ):
        assert f"/rpc/{method}" in spec["paths"], method
    assert "/api/agent/ingest" in spec["paths"]
    assert httpx.get(f"{live_server.url}/docs").status_code == 200


def test_a_thing_with_a_snapshot_reads_whole_everywhere(live_server: LiveServer) -> None:
    # The live index keeps the snapshot packed: every way out shows the same document, with
    # every field of the model (None where the device says nothing).
    setup_rack(live_server, 2)
    state = live_server.state
    assert state is not None
    wire = {"stats": {"status": "online", "hashrate": 9e13, "hashboards": [{"index": 0}]}}
    live_server.call(
        state.bus.publish(
            [
                {"spool_id": "s", "seq": i + 1, "thing_id": f"m{i}", "rack_id": "rack-a",
                 "ts": 1_000 + i, "err": None, "snap": json_dumps(wire),
                 "doc": {**wire, "config": {}}}
                for i in range(2)
            ]
        )
    )  # fmt: skip
    one = httpx.get(f"{live_server.url}/api/things/m1", headers=live_server.headers).json()
    snap = one["last"]["snap"]
    assert one["last"]["ts"] == 1_001 and one["last"]["err"] is None
    assert snap["stats"]["hashrate"] == 9e13 and snap["stats"]["power_w"] is None
    assert snap["stats"]["hashboards"][0]["temp_chip"] is None
    listed = call(live_server, "listThings", {"query": {"id": "m1"}, "status": 1}).json()[0]
    assert listed["last"] == one["last"]
    picked = call(
        live_server,
        "listThings",
        {"sort": {"last.snap.stats.hashrate": -1}, "fields": {"id": 1, "last.snap.stats": 1}},
    ).json()
    assert [p["id"] for p in picked] == ["m0", "m1"]  # equal hashrates: index order
    assert picked[1]["last"]["snap"]["stats"] == snap["stats"]
