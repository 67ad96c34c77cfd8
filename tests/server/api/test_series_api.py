"""tailLog, tailLogMulti, tailLogCustomRangeAggr over HTTP: from an agent's batch to history,
and every bad input a 4xx with its code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hashfleet.core.clock import now_ms
from hashfleet.server.series.rollup import STEP_MS, bucket_of
from tests.support.live_server import LiveServer


def rpc(server: LiveServer, method: str, body: Any, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.url}/rpc/{method}",
        json=body,
        headers=server.headers if headers is None else headers,
        timeout=10,
    )


@pytest.fixture
def fleet(live_server: LiveServer) -> LiveServer:
    rpc(live_server, "registerRack", {"id": "r1", "type": "miner"}).raise_for_status()
    for i in (1, 2):
        rpc(
            live_server,
            "registerThing",
            {"id": f"m{i}", "rack": "r1", "opts": {"family": "antminer", "address": "127.0.0.1"}},
        ).raise_for_status()
    return live_server


def test_an_ingested_batch_becomes_history(fleet: LiveServer) -> None:
    token = httpx.post(f"{fleet.url}/api/racks/r1/token", headers=fleet.headers).json()["token"]
    ts = bucket_of(now_ms()) - 2 * STEP_MS + 1000
    snap = {"stats": {"status": "online", "hashrate": 100e12, "power_w": 3000.0}}
    items = [{"seq": i, "thing_id": f"m{i}", "ts": ts, "snap": snap} for i in (1, 2)]
    resp = httpx.post(
        f"{fleet.url}/api/agent/ingest",
        json={"spool_id": "s1", "items": items},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.json()["stored"] == 2
    assert fleet.state is not None
    fleet.call(fleet.state.rollup.flush())
    [entry] = rpc(fleet, "tailLog", {"type": "miner", "key": "stat-5m", "tag": "t-miner"}).json()
    assert entry["ts"] == bucket_of(ts)
    assert entry["hashrate_mhs_5m_sum"] == pytest.approx(200e6)
    assert entry["things_cnt"] == 2
    multi = rpc(
        fleet,
        "tailLogMulti",
        {"keys": [{"type": "miner", "tag": "rack-r1"}, {"type": "miner", "key": "thing-5m-m1"}],
         "fields": {"hashrate_mhs_5m_sum": 1, "hashrate_mhs": 1}},
    ).json()  # fmt: skip
    assert multi[0][0]["hashrate_mhs_5m_sum"] == pytest.approx(200e6)
    assert multi[1][0]["hashrate_mhs"] == pytest.approx(100e6)
    # The resent batch is a duplicate: history does not count it twice.
    httpx.post(
        f"{fleet.url}/api/agent/ingest",
        json={"spool_id": "s1", "items": items},
        headers={"Authorization": f"Bearer {token}"},
    )
    fleet.call(fleet.state.rollup.flush())
    [again] = rpc(fleet, "tailLog", {"type": "miner", "aggrFields": {"things_cnt": 1}}).json()
    assert again["aggrCount"] == 2


@pytest.mark.parametrize(
    ("method", "body", "code"),
    [
        ("tailLog", {}, "ERR_TYPE_INVALID"),
        ("tailLog", {"type": 5}, "ERR_TYPE_INVALID"),
        ("tailLog", {"type": "toaster"}, "ERR_TYPE_AGGR_INVALID"),
        ("tailLog", {"type": "miner", "key": "stat-7m"}, "ERR_KEY_INVALID"),
        ("tailLog", {"type": "miner", "start": "yesterday"}, "ERR_START_DATE_INVALID"),
        ("tailLog", {"type": "miner", "end": -1}, "ERR_END_DATE_INVALID"),
        ("tailLog", {"type": "miner", "timezoneOffset": 3_600_000}, "ERR_TIMEZONE_OFFSET_INVALID"),
        ("tailLog", {"type": "miner", "aggrFields": {"x": 1}, "groupRange": "1y"},
         "ERR_GROUP_RANGE_INVALID"),
        ("tailLog", {"type": "miner", "limit": 10**9}, "ERR_LIMIT_INVALID"),
        ("tailLog", {"type": "miner", "fields": "hashrate"}, "ERR_FIELDS_INVALID"),
        ("tailLog", {"type": "miner", "tag": ["t-miner"]}, "ERR_TAG_INVALID"),
        ("tailLogMulti", {"keys": []}, "ERR_KEYS_INVALID"),
        ("tailLogMulti", {"keys": [{"key": "stat-5m"}]}, "ERR_TYPE_INVALID"),
        ("tailLogCustomRangeAggr", {"keys": "miner"}, "ERR_KEYS_INVALID"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_with_their_code(
    live_server: LiveServer, method: str, body: dict, code: str
) -> None:
    resp = rpc(live_server, method, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == code


def test_custom_range_errors_are_per_key(live_server: LiveServer) -> None:
    keys = [
        {"type": "miner", "startDate": "2024-13-01", "endDate": "2024-01-02"},
        {"type": "miner", "startDate": "2024-01-01", "endDate": "soon"},
        {"type": "miner", "startDate": "2024-01-01", "endDate": "2024-01-02"},
    ]
    out = rpc(live_server, "tailLogCustomRangeAggr", {"keys": keys}).json()
    assert [o["error"] for o in out] == ["ERR_START_DATE_INVALID", "ERR_END_DATE_INVALID", None]
    assert out[2]["data"]["aggrCount"] == 0


def test_history_needs_a_login(live_server: LiveServer) -> None:
    assert rpc(live_server, "tailLog", {"type": "miner"}, headers={}).status_code == 401
