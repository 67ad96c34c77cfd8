"""Site settings over HTTP: roles, persistence across a restart, error codes, redaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.live_server import LiveServer


def bearer(server: LiveServer, username: str, role: str, write: bool = True) -> dict[str, str]:
    """Headers of a new user's API token."""
    state = server.state
    assert state is not None
    uid = server.call(state.auth.create_user(username, f"{username}-password", role))
    token = server.call(state.auth.create_api_token(uid, "tests", write))
    return {"Authorization": f"Bearer {token}"}


def rpc(server: LiveServer, method: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return httpx.post(
        f"{server.url}/rpc/{method}", json=body, headers=headers or server.headers, timeout=10
    )


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    code: str = resp.json()["error"]
    return code


def fleet(server: LiveServer) -> None:
    state = server.state
    assert state is not None
    server.call(
        state.registry.register_rack("rack-m", "miner", {"site": "north", "password": "rack-pw"})
    )
    server.call(state.registry.register_rack("rack-c", "container", {}))
    server.call(
        state.registry.register_things(
            [
                {"rack": "rack-m", "id": "m0", "code": "m0",
                 "opts": {"family": "antminer", "address": "10.0.0.1", "password": "root",
                          "params": {"web_password": "admin"}}},
                {"rack": "rack-c", "id": "c0", "code": "c0",
                 "opts": {"family": "antminer", "address": "10.0.0.2"}, "type": "container"},
            ]
        )
    )  # fmt: skip


def test_global_config_roles_and_codes(live_server: LiveServer) -> None:
    viewer = bearer(live_server, "vera", "viewer")
    operator = bearer(live_server, "otto", "operator")
    defaults = ok(rpc(live_server, "getGlobalConfig", {}, viewer))
    assert defaults["nominalSiteHashrate_MHS"] == 0 and defaults["isAutoSleepAllowed"] is False
    assert defaults["autoSleep"]["maxSitePowerW"] is None
    # No body at all is an empty request.
    assert ok(httpx.post(f"{live_server.url}/rpc/getGlobalConfig", headers=viewer)) == defaults

    new = ok(
        rpc(
            live_server,
            "setGlobalConfig",
            {"isAutoSleepAllowed": True, "nominalSiteHashrate_MHS": 709032000000,
             "autoSleep": {"maxSitePowerW": 900_000, "resumeBelowW": 800_000}},
        )
    )  # fmt: skip
    assert new["isAutoSleepAllowed"] is True and new["autoSleep"]["resumeBelowW"] == 800_000
    fields = {"nominalSiteHashrate_MHS": 1, "isAutoSleepAllowed": 1}
    assert ok(rpc(live_server, "getGlobalConfig", {"fields": fields}, viewer)) == {
        "nominalSiteHashrate_MHS": 709032000000,
        "isAutoSleepAllowed": True,
    }
    assert ok(
        rpc(live_server, "getGlobalConfig", {"fields": {"autoSleep.holdMinutes": 1}}, viewer)
    ) == {"autoSleep": {"holdMinutes": 5}}

    for who in (operator, viewer, bearer(live_server, "ro", "admin", write=False)):
        resp = rpc(live_server, "setGlobalConfig", {"isAutoSleepAllowed": False}, who)
        assert error(resp, 403) == "ERR_ACTION_DENIED"
    bad = [{"voter": "x"}, {"isAutoSleepAllowed": "yes"}, {"siteCapacityW": -5},
           {"autoSleep": {"resumeBelowW": 950_000}}]  # fmt: skip
    for body in bad:
        assert error(rpc(live_server, "setGlobalConfig", body), 400) == "ERR_CONFIG_INVALID"
    assert error(rpc(live_server, "setGlobalConfig", [1]), 400) == "ERR_PAYLOAD_INVALID"
    resp = rpc(live_server, "getGlobalConfig", {"fields": [1]}, viewer)
    assert error(resp, 400) == "ERR_FIELDS_INVALID"
    # Refused changes changed nothing.
    assert ok(rpc(live_server, "getGlobalConfig", {}))["isAutoSleepAllowed"] is True


def test_wrk_and_thing_conf(live_server: LiveServer) -> None:
    fleet(live_server)
    viewer = bearer(live_server, "vera", "viewer")
    conf = ok(rpc(live_server, "getWrkConf", {"type": "miner"}, viewer))
    assert [c["rackId"] for c in conf] == ["rack-m"]
    config = conf[0]["config"]
    assert config["type"] == "miner"
    assert config["info"] == {"site": "north", "password": "***"}
    assert config["agent"]["pollIntervalS"] == live_server.settings.poll_interval_s

    things = ok(rpc(live_server, "getThingConf", {"type": "miner"}, viewer))
    assert [t["rackId"] for t in things] == ["rack-m"]
    opts = things[0]["requestValue"]["m0"]["opts"]
    assert opts["address"] == "10.0.0.1" and opts["password"] == "***"
    assert opts["params"]["web_password"] == "***"
    assert "root" not in str(things)

    for method in ("getWrkConf", "getThingConf"):
        for body in ({}, {"type": 5}, {"type": ""}):
            assert error(rpc(live_server, method, body, viewer), 400) == "ERR_TYPE_INVALID"

    # A custom role that reads only containers sees only those.
    state = live_server.state
    assert state is not None
    live_server.call(state.auth.create_role("box-reader", ["container:r"]))
    boxes = bearer(live_server, "bea", "box-reader")
    assert ok(rpc(live_server, "getWrkConf", {"type": "miner"}, boxes)) == []
    assert ok(rpc(live_server, "getThingConf", {"type": "container"}, boxes))[0]["rackId"] == (
        "rack-c"
    )


def test_wrk_settings_permissions_and_codes(live_server: LiveServer) -> None:
    fleet(live_server)
    viewer = bearer(live_server, "vera", "viewer")
    operator = bearer(live_server, "otto", "operator")
    assert ok(rpc(live_server, "getWrkSettings", {"rackId": "rack-m"}, viewer)) == {}
    body = {"rackId": "rack-m", "entries": {"fanMode": "auto", "limits": {"temp": 85}}}
    assert ok(rpc(live_server, "saveWrkSettings", body, operator)) == 1
    more = {"rackId": "rack-m", "entries": {"fanMode": None, "pollMs": 5000}}
    assert ok(rpc(live_server, "saveWrkSettings", more, operator)) == 1
    assert ok(rpc(live_server, "getWrkSettings", {"rackId": "rack-m"}, viewer)) == {
        "limits": {"temp": 85},
        "pollMs": 5000,
    }

    resp = rpc(live_server, "saveWrkSettings", body, viewer)
    assert error(resp, 403) == "ERR_MISSING_WRITE_PERMISSIONS"
    state = live_server.state
    assert state is not None
    live_server.call(state.auth.create_role("box-op", ["container:rw"]))
    boxes = bearer(live_server, "bea", "box-op")
    assert error(rpc(live_server, "saveWrkSettings", body, boxes), 403) == "ERR_ACTION_DENIED"
    assert error(rpc(live_server, "getWrkSettings", {"rackId": "rack-m"}, boxes), 403) == (
        "ERR_ACTION_DENIED"
    )
    box_body = {"rackId": "rack-c", "entries": {"setpoint": 30}}
    assert ok(rpc(live_server, "saveWrkSettings", box_body, boxes)) == 1

    for rack_id in (None, "", "nope", 7, "bad\u0000id"):
        assert error(rpc(live_server, "getWrkSettings", {"rackId": rack_id}), 400) == (
            "ERR_RACK_ID_INVALID"
        )
        bad: dict[str, Any] = {"rackId": rack_id, "entries": {"a": 1}}
        assert error(rpc(live_server, "saveWrkSettings", bad), 400) == "ERR_RACK_ID_INVALID"
    too_many = {f"k{i}": i for i in range(101)}
    entries: Any
    for entries in (None, [], {}, "x", too_many, {"big": "x" * 70_000}):
        bad = {"rackId": "rack-m", "entries": entries}
        assert error(rpc(live_server, "saveWrkSettings", bad), 400) == "ERR_ENTRIES_INVALID"
    nan = httpx.post(
        f"{live_server.url}/rpc/saveWrkSettings",
        content=b'{"rackId": "rack-m", "entries": {"x": NaN}}',
        headers={**live_server.headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert error(nan, 400) in ("ERR_ENTRIES_INVALID", "ERR_PAYLOAD_INVALID")

    # A rack forgotten and registered again does not inherit the old settings.
    live_server.call(state.registry.forget_racks(["rack-m"]))
    assert error(rpc(live_server, "getWrkSettings", {"rackId": "rack-m"}), 400) == (
        "ERR_RACK_ID_INVALID"
    )
    live_server.call(state.registry.register_rack("rack-m", "miner", {}))
    assert ok(rpc(live_server, "getWrkSettings", {"rackId": "rack-m"})) == {}


def test_settings_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    server = LiveServer(data, throttle_s=0.2).start()
    try:
        fleet(server)
        change = {"siteCapacityW": 1_500_000, "autoSleep": {"maxSitePowerW": 1_200_000}}
        ok(rpc(server, "setGlobalConfig", change))
        body = {"rackId": "rack-m", "entries": {"fanMode": "auto"}}
        assert ok(rpc(server, "saveWrkSettings", body)) == 1
    finally:
        server.stop()
    again = LiveServer(data, throttle_s=0.2).start()
    try:
        cfg = ok(rpc(again, "getGlobalConfig", {}))
        assert cfg["siteCapacityW"] == 1_500_000
        assert cfg["autoSleep"]["maxSitePowerW"] == 1_200_000
        assert again.state is not None
        assert again.state.site_config.config == cfg  # what the automation reads
        assert ok(rpc(again, "getWrkSettings", {"rackId": "rack-m"})) == {"fanMode": "auto"}
    finally:
        again.stop()


def test_writes_are_audited_with_secrets_redacted(live_server: LiveServer) -> None:
    fleet(live_server)
    ok(rpc(live_server, "setGlobalConfig", {"siteCapacityW": 10}))
    body = {"rackId": "rack-m", "entries": {"poolPassword": "hunter2", "mode": "eco"}}
    assert ok(rpc(live_server, "saveWrkSettings", body)) == 1
    state = live_server.state
    assert state is not None
    live_server.call(state.audit.flush())
    resp = httpx.get(f"{live_server.url}/api/audit", headers=live_server.headers, timeout=10)
    entries = {e["path"]: e for e in ok(resp)["entries"]}
    assert entries["/rpc/setGlobalConfig"]["status"] == 200
    saved = entries["/rpc/saveWrkSettings"]
    assert saved["actor"] == "admin" and "hunter2" not in str(saved)
