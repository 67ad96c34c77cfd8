"""The audit log end to end (SQLite and PostgreSQL): who is recorded, what is not, the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashfleet.core.clock import now_ms
from tests.support.live_server import ADMIN_PASSWORD, LiveServer


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "server", database_url=db_url, throttle_s=0.2).start()
    try:
        yield live
    finally:
        live.stop()


def audit(server: LiveServer, **params: Any) -> dict[str, Any]:
    resp = httpx.get(f"{server.url}/api/audit", params=params, headers=server.headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def token_of(server: LiveServer, username: str, role: str, write: bool = True) -> str:
    state = server.state
    assert state is not None
    uid = server.call(state.auth.create_user(username, f"{username}-password", role))
    return str(server.call(state.auth.create_api_token(uid, "t", write)))


def test_writes_are_recorded_with_their_caller(server: LiveServer) -> None:
    url = server.url
    api = httpx.Client(base_url=url, headers=server.headers, timeout=10)
    assert api.post("/rpc/registerRack", json={"id": "rack-a", "type": "miner"}).json() == 1
    thing = {"rack": "rack-a", "id": "m0", "code": "A-0", "opts": {
        "family": "antminer", "address": "127.0.1.1", "password": "hunter2"}}  # fmt: skip
    assert api.post("/rpc/registerThing", json=thing).json() == 1
    # Reads are not recorded: GETs, read-only RPCs, successful ingest.
    api.get("/api/alerts").raise_for_status()
    api.post("/rpc/listThings", json={}).raise_for_status()
    rack_token = api.post("/api/racks/rack-a/token").json()["token"]
    agent = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {rack_token}"})
    item = {"seq": 1, "thing_id": "m0", "ts": now_ms(), "err": "ERR_DEVICE_OFFLINE"}
    resp = agent.post("/api/agent/ingest", json={"spool_id": "s", "items": [item]})
    assert resp.status_code == 200, resp.text
    # An agent trying more than ingest, strangers, a failed and a good login.
    assert agent.post("/rpc/forgetThings", json={"ids": ["m0"]}).status_code == 403
    assert httpx.post(f"{url}/rpc/forgetRacks", json={"ids": ["rack-a"]}).status_code == 401
    bad = httpx.post(f"{url}/api/agent/ingest", json={"spool_id": "s", "items": []},
                     headers={"Authorization": "Bearer hfr_forged"})  # fmt: skip
    assert bad.status_code == 401
    browser = httpx.Client(base_url=url, timeout=10)
    assert browser.post("/login", data={"username": "admin", "password": "nope"}).status_code == 401
    login = browser.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 303
    host = url.split("://", 1)[1]
    own = browser.post("/rpc/registerRack", json={"id": "rack-b", "type": "miner"},
                       headers={"Origin": f"http://{host}"})  # fmt: skip
    assert own.json() == 1

    got = audit(server)
    rows = [(e["method"], e["path"], e["status"], e["actor"], e["actor_kind"])
            for e in reversed(got["entries"])]  # fmt: skip
    assert rows == [
        ("POST", "/rpc/registerRack", 200, "admin", "user"),
        ("POST", "/rpc/registerThing", 200, "admin", "user"),
        ("POST", "/api/racks/rack-a/token", 200, "admin", "user"),
        ("POST", "/rpc/forgetThings", 403, "rack-a", "agent"),
        ("POST", "/rpc/forgetRacks", 401, None, "anonymous"),
        ("POST", "/api/agent/ingest", 401, None, "anonymous"),
        ("POST", "/login", 401, "admin", "anonymous"),
        ("POST", "/login", 303, "admin", "user"),
        ("POST", "/rpc/registerRack", 200, "admin", "user"),  # by session cookie
    ]
    assert got["total"] == 9
    by_path = {e["path"]: e for e in got["entries"]}
    registered = by_path["/rpc/registerThing"]
    assert registered["detail"]["rpc"] == "registerThing"
    assert registered["detail"]["body"]["opts"] == {
        "family": "antminer", "address": "127.0.1.1", "password": "***"
    }  # fmt: skip
    assert registered["remote"] == "127.0.0.1" and registered["ts"] <= now_ms()
    assert by_path["/api/agent/ingest"]["detail"] == {"credentials": "bearer"}
    text = json.dumps(got)
    for secret in ("hunter2", ADMIN_PASSWORD, rack_token, server.admin_token, "nope"):
        assert secret not in text


def test_only_administrators_read_the_log(server: LiveServer) -> None:
    url = f"{server.url}/api/audit"
    assert httpx.get(url).status_code == 401
    for role in ("operator", "viewer"):
        token = token_of(server, f"{role}1", role)
        resp = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 403
        assert resp.json()["error"] in ("ERR_MISSING_ADMIN_PERMISSIONS", "ERR_ACTION_DENIED")
    read_only_admin = token_of(server, "admin2", "admin", write=False)
    assert httpx.get(url, headers={"Authorization": f"Bearer {read_only_admin}"}).status_code == 403
    refused = audit(server, status="4xx")["entries"]
    assert refused == []  # GETs, refused or not, are reads


def test_filters_and_paging(server: LiveServer) -> None:
    api = httpx.Client(base_url=server.url, headers=server.headers, timeout=10)
    t0 = now_ms()
    for i in range(3):
        api.post("/rpc/registerRack", json={"id": f"r{i}", "type": "miner"}).raise_for_status()
    api.post("/rpc/registerRack", json={"id": "r0", "type": "miner"})  # 409: exists
    api.post("/rpc/forgetRacks", json={"ids": ["r2"]}).raise_for_status()
    httpx.post(f"{server.url}/rpc/forgetRacks", json={"ids": ["r1"]})  # 401
    t1 = now_ms()

    def paths(**params: Any) -> list[tuple[str, int]]:
        return [(e["path"], e["status"]) for e in audit(server, **params)["entries"]]

    assert len(paths()) == 6
    assert paths(actor="admin", path="/rpc/forget") == [("/rpc/forgetRacks", 200)]
    assert paths(kind="anonymous") == [("/rpc/forgetRacks", 401)]
    assert sorted(paths(status="4xx")) == [("/rpc/forgetRacks", 401), ("/rpc/registerRack", 409)]
    assert paths(status="409") == [("/rpc/registerRack", 409)]
    assert paths(method="POST", since=t0, until=t1, limit=1) == [("/rpc/forgetRacks", 401)]
    assert paths(method="delete,put") == []
    assert paths(since=t1 + 1) == []
    page = audit(server, offset=4, limit=5)
    assert page["total"] == 6 and len(page["entries"]) == 2
    assert page["entries"][-1]["detail"]["body"] == {"id": "r0", "type": "miner"}
    for bad in ({"limit": 1001}, {"status": "6xx"}, {"status": "40"}, {"method": "GET"},
                {"kind": "robot"}):  # fmt: skip
        resp = httpx.get(f"{server.url}/api/audit", params=bad, headers=server.headers)
        assert resp.status_code == 400, bad
        assert resp.json()["error"] in ("ERR_QUERY_INVALID", "ERR_PAYLOAD_INVALID")


def test_a_streamed_answer_still_streams_and_is_recorded(server: LiveServer) -> None:
    lines: list[str] = []
    with httpx.stream("POST", f"{server.url}/api/scan", headers=server.headers, timeout=30,
                      json={"targets": ["127.89.7.1-3"], "timeout": 0.3}) as resp:  # fmt: skip
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        assert "content-length" not in resp.headers  # not buffered into one body
        lines.extend(line for line in resp.iter_lines() if line)
    assert json.loads(lines[-1]) == {"type": "done", "scanned": 3, "found": 0}
    [entry] = audit(server, path="/api/scan")["entries"]
    assert entry["status"] == 200 and entry["actor"] == "admin"
    assert entry["detail"]["body"]["targets"] == ["127.89.7.1-3"]
