"""The scan page in real Chromium: find simulated miners, add the new ones to a rack
(127.89.5.x)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SHOTS, login
from tests.support.live_server import ADMIN_PASSWORD, LiveServer
from tests.support.sim_process import sim_process

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sims() -> Iterator[list[tuple[str, str, int]]]:
    with sim_process(["--antminer", "3", "--xmrig", "1", "--ip-base", "127.89.5.1"], 4) as devs:
        yield devs


def test_scan_page_finds_miners_and_adds_the_selected_ones(
    live_server: LiveServer, sims: list[tuple[str, str, int]], browser: Any
) -> None:
    from playwright.sync_api import expect

    api = httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=10)
    api.post("/rpc/registerRack", json={"id": "rack-7", "type": "miner"}).raise_for_status()
    api.post("/rpc/registerThing", json={"rack": "rack-7", "opts": {
        "family": "antminer", "address": "127.89.5.1"}}).raise_for_status()  # fmt: skip

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, live_server.url, ADMIN_PASSWORD)
    page.click("nav >> text=Scan")
    page.fill("#scan-targets", "127.89.5.1-6")
    page.fill("#scan-timeout", "1")
    page.click("#scan-start")
    expect(page.locator("#scan-msg")).to_have_text("done: 4 found in 6 addresses", timeout=30_000)
    rows = page.locator("#scan-results tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("yes")  # already registered: cannot be picked
    expect(rows.nth(0).locator("input.pick")).to_be_disabled()
    expect(rows.nth(3)).to_contain_text("xmrig")
    expect(page.locator("#register-btn")).to_be_disabled()

    page.check("#scan-all")
    page.select_option("#register-rack", "rack-7")
    page.click("#register-btn")
    expect(page.locator("#register-msg")).to_have_text("added 3 to rack-7")
    expect(rows.nth(1)).to_contain_text("added")
    page.screenshot(path=str(SHOTS / "scan.png"))

    things = api.post("/rpc/listThings", json={"query": {"rack": "rack-7"}}).json()
    assert sorted(t["opts"]["address"] for t in things) == [a for _, a, _ in sims]
