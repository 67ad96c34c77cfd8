"""The ingest route: rack tokens only, malformed batches are a 400, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live_server import LiveServer


@pytest.fixture
def rack_token(live_server: LiveServer) -> str:
    h = live_server.headers
    httpx.post(
        f"{live_server.url}/rpc/registerRack", json={"id": "r1", "type": "miner"}, headers=h
    ).raise_for_status()
    return str(httpx.post(f"{live_server.url}/api/racks/r1/token", headers=h).json()["token"])


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"spool_id": "s"}',
        b'{"spool_id": "s", "items": [{"seq": "x"}]}',
        b'{"spool_id": "", "items": [{"seq": 1, "thing_id": "a", "ts": 1}]}',
    ],
)
def test_malformed_batches_are_400(live_server: LiveServer, rack_token: str, body: bytes) -> None:
    resp = httpx.post(
        f"{live_server.url}/api/agent/ingest",
        content=body,
        headers={"Authorization": f"Bearer {rack_token}"},
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "ERR_PAYLOAD_INVALID"


def test_only_rack_tokens_may_ingest(live_server: LiveServer, rack_token: str) -> None:
    body = {"spool_id": "s", "items": []}
    url = f"{live_server.url}/api/agent/ingest"
    assert httpx.post(url, json=body).status_code == 401
    admin = httpx.post(url, json=body, headers=live_server.headers)
    assert admin.status_code == 403
    assert (
        httpx.post(url, json=body, headers={"Authorization": "Bearer hfr_forged"}).status_code
        == 401
    )
    assert httpx.post(url, json=body, headers={"Authorization": f"Bearer {rack_token}"}).json() == {
        "acked_seq": 0,
        "stored": 0,
        "duplicates": 0,
    }
    # A rotated token replaces the old one.
    new = httpx.post(f"{live_server.url}/api/racks/r1/token", headers=live_server.headers)
    assert (
        httpx.post(url, json=body, headers={"Authorization": f"Bearer {rack_token}"}).status_code
        == 401
    )
    assert (
        httpx.post(
            url, json=body, headers={"Authorization": f"Bearer {new.json()['token']}"}
        ).status_code
        == 200
    )
    # Agents cannot read the fleet.
    resp = httpx.post(
        f"{live_server.url}/rpc/listThings",
        json={},
        headers={"Authorization": f"Bearer {new.json()['token']}"},
    )
    assert resp.status_code == 403


def test_a_forgotten_racks_token_stops_working(live_server: LiveServer, rack_token: str) -> None:
    h, url = live_server.headers, live_server.url
    agent = {"Authorization": f"Bearer {rack_token}"}
    assert httpx.get(f"{url}/api/agent/config", headers=agent).status_code == 200
    httpx.post(f"{url}/rpc/forgetRacks", json={"ids": ["r1"]}, headers=h).raise_for_status()
    # The same id registered again is a new rack: the old agent token is not its token.
    httpx.post(
        f"{url}/rpc/registerRack", json={"id": "r1", "type": "miner"}, headers=h
    ).raise_for_status()
    assert httpx.get(f"{url}/api/agent/config", headers=agent).status_code == 401


def test_a_hostile_snapshot_is_refused_and_the_fleet_stays_readable(
    live_server: LiveServer, rack_token: str
) -> None:
    h, url = live_server.headers, live_server.url
    httpx.post(
        f"{url}/rpc/registerThing",
        json={"id": "m1", "rack": "r1", "opts": {"family": "antminer", "address": "127.0.0.1"}},
        headers=h,
    ).raise_for_status()
    body = {
        "spool_id": "s",
        "items": [{"seq": 1, "thing_id": "m1", "ts": 1, "snap": {"stats": "x"}}],
    }
    resp = httpx.post(
        f"{url}/api/agent/ingest", json=body, headers={"Authorization": f"Bearer {rack_token}"}
    )
    assert resp.status_code == 400 and resp.json()["error"] == "ERR_PAYLOAD_INVALID"
    assert httpx.get(f"{url}/api/fleet", headers=h).status_code == 200
