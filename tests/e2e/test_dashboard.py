"""The dashboard in real Chromium: log in, see the fleet live, filter, open a thing, and see
a simulator switched off turn offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import SHOTS
from tests.support.demo_process import DemoProcess
from tests.support.live_server import free_port

pytestmark = pytest.mark.e2e
MINERS = 20


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    proc = DemoProcess(tmp_path_factory.mktemp("demo"), free_port(), MINERS).start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.output()


def test_login_fleet_filter_detail_and_offline(demo: DemoProcess, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    url = demo.info["url"]

    # A wrong password is refused, the right one lands on the fleet.
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("wrong username or password")
    page.fill("input[name=password]", demo.info["password"])
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{url}/")

    # Every thing is listed and the live connection is up.
    expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    expect(page.locator("#row-count")).to_have_text(f"{MINERS} of {MINERS} things", timeout=20_000)
    expect(page.locator("#tile-alive")).to_have_text(f"{MINERS}/{MINERS}", timeout=30_000)
    expect(page.locator("#tile-hashrate")).to_contain_text("BTC")

    # Values change without a reload: the BTC hashrate tile drifts with the simulators.
    first = page.locator("#tile-hashrate").inner_text()
    page.wait_for_function(
        "(t) => document.querySelector('#tile-hashrate').innerText !== t", arg=first, timeout=20_000
    )
    page.screenshot(path=str(SHOTS / "fleet.png"))

    # The filter takes a Mongo-style query.
    page.fill("#filter", json.dumps({"opts.family": "xmrig"}))
    page.click("#filter-form button[type=submit]")
    expect(page.locator("#row-count")).to_have_text(f"{MINERS // 5} of {MINERS} things")
    page.fill("#filter", "{not json")
    page.click("#filter-form button[type=submit]")
    expect(page.locator("#filter-msg")).to_contain_text("not JSON")
    page.fill("#filter", json.dumps({"opts.family": {"$bogus": 1}}))
    page.click("#filter-form button[type=submit]")
    expect(page.locator("#filter-msg")).to_contain_text("ERR_QUERY_INVALID")
    page.click("#filter-clear")
    expect(page.locator("#row-count")).to_have_text(f"{MINERS} of {MINERS} things")

    # Open an Antminer's detail page: live values, boards and a chart.
    antminer = demo.rpc("listThings", {"query": {"opts.family": "antminer"}, "limit": 1})[0]
    page.locator(f".row[data-id='{antminer['id']}']").click()
    expect(page).to_have_url(f"{url}/things/{antminer['id']}")
    expect(page.locator("#d-status")).to_have_text("online", timeout=15_000)
    expect(page.locator("#d-boards tr")).to_have_count(4)
    expect(page.locator("#chart canvas").first).to_be_visible()
    hashrate_box = page.locator("#d-values [data-field=Hashrate]")
    before = hashrate_box.inner_text()
    page.wait_for_function(
        "(t) => document.querySelector('#d-values [data-field=Hashrate]').innerText !== t",
        arg=before,
        timeout=20_000,
    )
    page.screenshot(path=str(SHOTS / "thing.png"))

    # Switch that simulator off: the page shows it offline without a reload.
    demo.set_fault(antminer["opts"]["address"], "refuse")
    expect(page.locator("#d-status")).to_have_text("offline", timeout=20_000)
    page.screenshot(path=str(SHOTS / "thing-offline.png"))
    page.goto(f"{url}/")
    expect(page.locator("#tile-alive")).to_have_text(f"{MINERS - 1}/{MINERS}", timeout=20_000)
    demo.set_fault(antminer["opts"]["address"], "none")
    expect(page.locator("#tile-alive")).to_have_text(f"{MINERS}/{MINERS}", timeout=20_000)
