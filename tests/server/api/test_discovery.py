"""``POST /api/scan``: streamed progress and finds, known addresses, who may scan (127.89.4.x)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.live_server import ADMIN_PASSWORD, LiveServer
from tests.support.sim_process import sim_process


@pytest.fixture(scope="module")
def sims() -> Iterator[list[tuple[str, str, int]]]:
    with sim_process(["--antminer", "1", "--xmrig", "1", "--ip-base", "127.89.4.1"], 2) as devs:
        yield devs


def scan_lines(server: LiveServer, body: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {server.admin_token}", **headers}
    with httpx.stream("POST", f"{server.url}/api/scan", json=body, headers=auth,
                      timeout=60) as resp:  # fmt: skip
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in resp.iter_lines() if line]


def test_scan_streams_one_progress_line_per_address_then_done(
    live_server: LiveServer, sims: list[tuple[str, str, int]]
) -> None:
    lines = scan_lines(live_server, {"targets": ["127.89.4.1-4"], "timeout": 1})
    progress = [m for m in lines if m["type"] == "progress"]
    assert [m["done"] for m in progress] == [1, 2, 3, 4] and progress[0]["total"] == 4
    assert lines[-1] == {"type": "done", "scanned": 4, "found": 2}
    devices = sorted((m["device"] for m in progress if "device" in m), key=lambda d: d["address"])
    assert [(d["address"], d["family"], d["known"]) for d in devices] == [
        ("127.89.4.1", "antminer", None), ("127.89.4.2", "xmrig", None)
    ]  # fmt: skip
    assert devices[0]["opts"] == {"family": "antminer", "address": "127.89.4.1", "port": 4028}
    assert devices[0]["model"] and devices[0]["status"] == "online"


def test_registered_addresses_are_marked_known(
    live_server: LiveServer, sims: list[tuple[str, str, int]]
) -> None:
    rpc = httpx.Client(base_url=live_server.url, timeout=10,
                       headers={"Authorization": f"Bearer {live_server.admin_token}"})  # fmt: skip
    rpc.post("/rpc/registerRack", json={"id": "r1", "type": "miner"}).raise_for_status()
    rpc.post("/rpc/registerThing", json={"rack": "r1", "opts": {
        "family": "antminer", "address": "127.89.4.1"}}).raise_for_status()  # fmt: skip
    thing_id = rpc.post("/rpc/listThings", json={}).json()[0]["id"]
    lines = scan_lines(live_server, {"targets": ["127.89.4.1"], "timeout": 1})
    assert lines[0]["device"]["known"] == thing_id


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"targets": ["10.0.0.0/16"]}, "ERR_SCAN_TARGETS_INVALID"),  # over the web cap
        ({"targets": ["nonsense"]}, "ERR_SCAN_TARGETS_INVALID"),
        ({"targets": []}, "ERR_PAYLOAD_INVALID"),
        ({"targets": ["127.0.0.1"], "concurrency": 0}, "ERR_PAYLOAD_INVALID"),
    ],
)
def test_bad_scans_are_4xx_with_their_code(
    live_server: LiveServer, body: dict[str, Any], code: str
) -> None:
    resp = httpx.post(f"{live_server.url}/api/scan", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {live_server.admin_token}"})  # fmt: skip
    assert resp.status_code == 400 and resp.json()["error"] == code


def test_only_writers_may_scan(live_server: LiveServer) -> None:
    anonymous = httpx.post(f"{live_server.url}/api/scan", json={"targets": ["127.0.0.1"]})
    assert anonymous.status_code == 401
    state = live_server.state
    assert state is not None
    uid = live_server.call(state.auth.create_user("viewer1", "viewer-password", "viewer"))
    ro = live_server.call(state.auth.create_api_token(uid, "ro", True))
    resp = httpx.post(f"{live_server.url}/api/scan", json={"targets": ["127.0.0.1"]},
                      headers={"Authorization": f"Bearer {ro}"})  # fmt: skip
    assert resp.status_code == 403 and resp.json()["error"] == "ERR_MISSING_WRITE_PERMISSIONS"


def test_a_cookie_from_another_site_cannot_start_a_scan(live_server: LiveServer) -> None:
    session = httpx.Client(base_url=live_server.url, timeout=10)
    login = session.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code in (200, 303)
    foreign = session.post("/api/scan", json={"targets": ["127.89.4.9"]},
                           headers={"Origin": "http://evil.example"})  # fmt: skip
    assert foreign.status_code == 403 and foreign.json()["error"] == "ERR_CSRF"
    host = live_server.url.split("://", 1)[1]
    own = session.post("/api/scan", json={"targets": ["127.89.4.9"], "timeout": 0.5},
                       headers={"Origin": f"http://{host}"})  # fmt: skip
    assert own.status_code == 200 and own.text.strip().endswith('"found":0}')
