"""The alerts page in real Chromium, fed by alerts that the live server's rules open and close.

Snapshots are posted as a rack's agent would: a chip above the critical threshold, a fan at
0 rpm and a device error carrying markup open alerts; the page shows them live, filters
them, takes a new one without a reload, drops a closed one from Active and lists it in
History, and shows the hostile description as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hashfleet.core.clock import now_ms
from tests.e2e.conftest import SHOTS, login
from tests.support.live_server import ADMIN_PASSWORD, LiveServer

pytestmark = pytest.mark.e2e
EVIL = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


class Agent:
    """Registers rack r1 with miners M-1…M-4 and posts their snapshots."""

    def __init__(self, server: LiveServer) -> None:
        state = server.state
        assert state is not None
        server.call(state.registry.register_rack("r1", "miner", {}))
        server.call(
            state.registry.register_things(
                [
                    {
                        "rack": "r1",
                        "id": f"m{i}",
                        "code": f"M-{i}",
                        "opts": {"family": "antminer", "address": f"127.0.9.{i}"},
                    }
                    for i in range(1, 5)
                ]
            )
        )
        token = server.call(state.auth.create_rack_token("r1"))
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = server.url
        self.seq = 0

    def send(
        self, thing_id: str, chip: float = 60, fan_rpm: int = 5000, errors: tuple[str, ...] = ()
    ) -> None:
        self.seq += 1
        snap = {
            "stats": {
                "status": "online",
                "hashboards": [{"index": 0, "temp_chip": chip, "temp_board": 55, "ok": True}],
                "fans": [{"index": 0, "rpm": fan_rpm}, {"index": 1, "rpm": 5000}],
                "errors": list(errors),
            },
            "config": {"model": "S19"},
        }
        item = {"seq": self.seq, "thing_id": thing_id, "ts": now_ms(), "snap": snap}
        resp = httpx.post(
            f"{self.url}/api/agent/ingest",
            json={"spool_id": "alerts-page", "items": [item]},
            headers=self.headers,
        )
        assert resp.status_code == 200, resp.text


@pytest.fixture
def page(live_server: LiveServer, browser: Any) -> Iterator[Any]:
    p = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield p
        assert errors == []  # no script error on the page
    finally:
        p.close()


def test_alerts_page_live_filters_history_and_escaping(live_server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    url = live_server.url
    agent = Agent(live_server)
    agent.send("m1", chip=99)  # temp_chip, critical (default critical threshold 95)
    agent.send("m2", fan_rpm=0)  # fan_stopped, high
    agent.send("m3", errors=(EVIL,))  # device:<EVIL>, medium: device-supplied markup

    login(page, url, ADMIN_PASSWORD)
    # The fleet page shows the open count in the nav too (its own socket, no second one).
    expect(page.locator("#nav-alerts-count")).to_have_text("3", timeout=10_000)
    page.click("#nav-alerts")
    expect(page).to_have_url(f"{url}/alerts")

    rows = page.locator("#active-rows tr")
    expect(rows).to_have_count(3, timeout=10_000)
    # Most severe first; thing codes come from the registry, the link opens the thing.
    expect(rows.nth(0)).to_contain_text("critical")
    expect(rows.nth(0)).to_contain_text("M-1")
    expect(rows.nth(0)).to_contain_text("Chip temperature high")
    expect(rows.nth(0)).to_contain_text("chip temperature 99 °C above 95 °C")
    expect(rows.nth(1)).to_contain_text("Fan stopped")
    expect(rows.nth(1)).to_contain_text("fan 0 at 0 rpm")
    expect(rows.nth(2)).to_contain_text("medium")
    assert rows.nth(0).locator("a").get_attribute("href") == "/things/m1"
    expect(rows.nth(0).locator(".al-since")).to_have_text("just now")
    expect(page.locator("#nav-alerts-count")).to_have_text("3")

    # The device-supplied description is text, not markup.
    expect(rows.nth(2).locator(".al-desc")).to_have_text(f"device reports {EVIL}")
    assert page.locator("#alerts-page img").count() == 0
    assert page.evaluate("window.__xss") is None

    # Severity filter, kept in the URL: a shared link shows the same view.
    page.uncheck("#f-severity input[value=critical]")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"severity=high%2Cmedium%2Clow"))
    page.reload()
    expect(page.locator("#f-severity input[value=critical]")).not_to_be_checked()
    expect(rows).to_have_count(2, timeout=10_000)
    page.check("#f-severity input[value=critical]")
    expect(rows).to_have_count(3)

    # Text search over thing code and description; thing type select.
    page.fill("#f-q", "m-2")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Fan stopped")
    page.fill("#f-q", "<script>")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("M-3")
    page.fill("#f-q", "")
    page.select_option("#f-type", "container")
    expect(rows).to_have_count(0)
    expect(page.locator("#active-empty")).to_be_visible()
    page.select_option("#f-type", "miner")
    expect(rows).to_have_count(3)

    # A new alert arrives without a reload, highlighted.
    page.evaluate("window.__same_page = 1")
    agent.send("m4", chip=88)  # temp_chip, high
    new_row = page.locator("#active-rows tr", has_text="M-4")
    expect(new_row).to_have_count(1, timeout=10_000)
    expect(new_row).to_have_class(re.compile(r"al-flash"))
    expect(new_row).to_contain_text("high")
    expect(rows).to_have_count(4)
    expect(page.locator("#nav-alerts-count")).to_have_text("4")
    page.screenshot(path=str(SHOTS / "alerts-active.png"))

    # A healthy snapshot closes m1's alert: it leaves Active live ...
    agent.send("m1", chip=60)
    expect(page.locator("#active-rows tr", has_text="M-1")).to_have_count(0, timeout=10_000)
    expect(rows).to_have_count(3)
    expect(page.locator("#nav-alerts-count")).to_have_text("3")
    assert page.evaluate("window.__same_page") == 1

    # ... and is in History, with its duration; the tab is in the URL.
    page.click("#tab-history")
    expect(page).to_have_url(re.compile(r"tab=history"))
    hist = page.locator("#history-rows tr")
    expect(hist).to_have_count(1, timeout=10_000)
    expect(hist.first).to_contain_text("M-1")
    expect(hist.first).to_contain_text("critical")
    expect(hist.first.locator(".al-dur")).to_have_text(re.compile(r"^\d+s$"))
    expect(page.locator("#h-range")).to_have_text("1\u20131 of 1")

    # Closing another while History is shown adds it there without a reload.
    agent.send("m3")
    expect(hist).to_have_count(2, timeout=10_000)
    expect(hist.first.locator(".al-desc")).to_have_text(f"device reports {EVIL}")
    assert page.locator("#alerts-page img").count() == 0
    assert page.evaluate("window.__xss") is None

    # History filters go to the API: severity, and dates (tomorrow on has nothing).
    page.uncheck("#f-severity input[value=critical]")
    expect(hist).to_have_count(1)
    expect(hist.first).to_contain_text("M-3")
    page.check("#f-severity input[value=critical]")
    expect(hist).to_have_count(2)
    tomorrow = page.evaluate(
        "(() => { const d = new Date(); d.setDate(d.getDate() + 1);"
        " return d.toLocaleDateString('en-CA'); })()"
    )
    page.fill("#f-since", tomorrow)
    expect(hist).to_have_count(0)
    expect(page.locator("#history-empty")).to_be_visible()
    expect(page).to_have_url(re.compile(f"since={tomorrow}"))
    page.click("#f-clear")
    expect(hist).to_have_count(2)
    page.screenshot(path=str(SHOTS / "alerts-history.png"))

    page.click("#tab-active")
    expect(rows).to_have_count(2)
