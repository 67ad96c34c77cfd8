"""A hostile agent's snapshot cannot run script in an operator's browser."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hashfleet.core.clock import now_ms
from tests.e2e.conftest import login
from tests.support.live_server import ADMIN_PASSWORD, LiveServer

pytestmark = pytest.mark.e2e
EVIL = '<img src=x onerror="window.__xss=1">'


def test_snapshot_values_are_rendered_as_text(live_server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    live_server.call(
        state.registry.register_things(
            [
                {
                    "rack": "r1",
                    "id": "m1",
                    "code": "M-1",
                    "opts": {"family": "antminer", "address": "127.0.9.9"},
                }
            ]
        )
    )
    token = live_server.call(state.auth.create_rack_token("r1"))
    # Every string a snapshot can carry is hostile; numbers are typed at ingest (a string
    # where a number belongs is refused there), so they cannot carry markup at all.
    snap = {
        "stats": {
            "status": EVIL,
            "hashrate": 1e12,
            "algorithm": EVIL,
            "coin": EVIL,
            "errors": [EVIL],
            "hashboards": [{"index": 0, "chips": 1, "chips_expected": 2}],
            "fans": [{"index": 0, "rpm": 100}],
            "pools": [{"url": EVIL, "user": EVIL, "accepted": 1, "rejected": 0}],
        },
        "config": {"model": EVIL, "firmware": EVIL, "make": EVIL, "hostname": EVIL, "mac": EVIL},
    }
    resp = httpx.post(
        f"{live_server.url}/api/agent/ingest",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "spool_id": "evil",
            "items": [{"seq": 1, "thing_id": "m1", "ts": now_ms(), "snap": snap}],
        },
    )
    assert resp.status_code == 200, resp.text

    page = browser.new_page()
    login(page, live_server.url, ADMIN_PASSWORD)
    expect(page.locator(".row").first).to_contain_text("<img", timeout=10_000)
    page.goto(f"{live_server.url}/things/m1")
    expect(page.locator("#d-pools")).to_contain_text("<img", timeout=10_000)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__xss") is None
