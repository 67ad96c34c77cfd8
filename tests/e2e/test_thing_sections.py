"""The thing page shows every section a snapshot can carry, as text (never as markup)."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from hashfleet.core.clock import now_ms
from hashfleet.model.snapshot import Snapshot
from tests.e2e.conftest import SHOTS, login
from tests.support.hostile import hostile_snapshot
from tests.support.live_server import ADMIN_PASSWORD, LiveServer

pytestmark = pytest.mark.e2e
SECTIONS = ["Programs", "Host", "Power meter", "Environment", "Cooling", "Pool account", "Chia"]


def test_every_section_is_rendered_and_escaped(live_server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    opts = {"family": "xmrig", "address": "127.0.9.8"}
    thing = {"rack": "r1", "id": "d1", "code": "D-1", "opts": opts}
    live_server.call(state.registry.register_things([thing]))
    token = live_server.call(state.auth.create_rack_token("r1"))
    snap = hostile_snapshot()
    msgspec.convert(snap, Snapshot)  # the model accepts it: ingest will too
    item = {"seq": 1, "thing_id": "d1", "ts": now_ms(), "snap": snap}
    resp = httpx.post(
        f"{live_server.url}/api/agent/ingest",
        headers={"Authorization": f"Bearer {token}"},
        json={"spool_id": "s", "items": [item]},
    )
    assert resp.status_code == 200, resp.text

    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    login(page, live_server.url, ADMIN_PASSWORD)
    page.goto(f"{live_server.url}/things/d1")
    expect(page.locator("#d-boards-title")).to_have_text("Devices", timeout=10_000)
    for title in SECTIONS:
        expect(page.locator(f'.section[data-section="{title}"] h2')).to_have_text(title)
    expect(page.locator('.section[data-section="Power meter"] table')).to_contain_text("L1")
    expect(page.locator('.section[data-section="Cooling"]')).to_contain_text("FAULT")
    expect(page.locator("#d-boards")).to_contain_text("<img")
    page.screenshot(path=str(SHOTS / "thing-sections.png"), full_page=True)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__xss") is None
