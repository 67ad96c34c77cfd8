"""History charts in Chromium: real history (snapshots at past times through the agent
ingest path, rolled up by the server), range buttons, the timezone of the time axis, the
choices kept across reloads, the thing page's history, and the empty and error states."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashfleet.core.clock import now_ms
from hashfleet.server.series.rollup import STEP_MS, bucket_of
from tests.e2e.conftest import SHOTS, login
from tests.support.live_server import ADMIN_PASSWORD, LiveServer

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
DAY = 24 * HOUR
NPT = 20_700_000  # UTC+05:45: its hours fall on other instants than UTC's
UYT = -10_800_000
ZONES = [
    {"code": "UTC", "offset": 0},
    {"code": "NPT", "offset": NPT},
    {"code": "UYT", "offset": UYT},
]
THINGS = {"m1": 100.0, "m2": 110.0, "m3": 90.0}  # TH/s
WATTS = 3000.0
RANGE_MS = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
TIMEOUT = 10_000


class Seeded:
    """A server with nine days of history for three miners."""

    def __init__(self, server: LiveServer, stamps: list[int]) -> None:
        self.server = server
        self.stamps = stamps  # snapshot times (ms), one snapshot per thing at each
        self.now = now_ms()

    def points(self, range_: str, level_ms: int, group_ms: int | None = None) -> int:
        """Entries a range shows: distinct level buckets from the window's start on (merged
        per ``group_ms`` window when given)."""
        start = self.now - RANGE_MS[range_]
        buckets = {t - t % level_ms for t in self.stamps if t - t % level_ms >= start}
        if group_ms is None:
            return len(buckets)
        return len({b - b % group_ms for b in buckets})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("charts")
    config = tmp / "history.json"
    config.write_text(json.dumps({"aggrTailLogTimezones": ZONES}))
    server = LiveServer(Path(tmp) / "server", throttle_s=0.2, history_config=str(config)).start()
    try:
        state = server.state
        assert state is not None
        server.call(state.registry.register_rack("r1", "miner", {}))
        server.call(
            state.registry.register_things(
                [{"rack": "r1", "id": tid, "code": tid.upper(),
                  "opts": {"family": "antminer", "address": f"127.0.5.{i}"}}
                 for i, tid in enumerate(THINGS, 1)]
            )
        )  # fmt: skip
        token = server.call(state.auth.create_rack_token("r1"))
        b = bucket_of(now_ms())
        # Every 5 minutes 10 to 50 minutes ago, then every 4 hours from 2 hours ago back
        # over 9 days: no bucket sits near the edge of a range.
        stamps = [b - k * STEP_MS + 60_000 for k in range(2, 11)]
        stamps += [b - 2 * HOUR - j * 4 * HOUR + 60_000 for j in range(54)]
        items: list[dict[str, Any]] = []
        for tid, ths in THINGS.items():
            stats = {"status": "online", "hashrate": ths * 1e12, "power_w": WATTS,
                     "temp_max": 60 + ths / 10}  # fmt: skip
            for t in stamps:
                snap = {"stats": stats, "config": {"model": "S19"}}
                items.append({"seq": len(items) + 1, "thing_id": tid, "ts": t, "snap": snap})
        resp = httpx.post(
            f"{server.url}/api/agent/ingest",
            headers={"Authorization": f"Bearer {token}"},
            json={"spool_id": "charts", "items": items},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["stored"] == len(items)
        server.call(state.rollup.flush())
        yield Seeded(server, stamps)
    finally:
        server.stop()


def wall(ts_s: float, offset: int) -> datetime:
    return datetime.fromtimestamp(ts_s + offset / 1000, UTC)


def check_ticks(ticks: list[list[Any]], offset: int) -> None:
    """Every time-axis label is the tick's wall clock at ``offset``."""
    assert ticks, "the time axis has no ticks"
    for ts, label in ticks:
        d = wall(ts, offset)
        assert label in (d.strftime("%H:%M"), d.strftime("%m-%d")), (ts, label, offset)
        if "-" in label:  # a date: only at that offset's midnight
            assert (d.hour, d.minute) == (0, 0), (ts, label, offset)


def wait_until(page: Any, cond: Callable[[], bool], timeout_s: float = 5) -> None:
    for _ in range(int(timeout_s * 20)):
        if cond():
            return
        page.wait_for_timeout(50)
    raise AssertionError("condition not met")


def ticks_of(page: Any, chart: str) -> list[list[Any]]:
    ticks: list[list[Any]] = json.loads(page.locator(chart).get_attribute("data-x-ticks"))
    return ticks


def test_fleet_charts_ranges_timezones_and_prefs(seeded: Seeded, browser: Any) -> None:
    from playwright.sync_api import expect

    url = seeded.server.url
    # A browser in a zone none of the configured ones is: the axis must not follow it.
    ctx = browser.new_context(viewport={"width": 1400, "height": 1200}, timezone_id="Asia/Kolkata")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, url, ADMIN_PASSWORD)
    section = page.locator("#fleet-charts")
    expect(section).to_have_attribute("data-loaded", "miner|24h|0", timeout=TIMEOUT)
    expect(page.locator("#charts-tz option")).to_have_text(
        ["UTC", "NPT (UTC+05:45)", "UYT (UTC-03:00)"]
    )

    expected = {
        "1h": seeded.points("1h", STEP_MS),
        "24h": seeded.points("24h", STEP_MS),
        "7d": seeded.points("7d", 30 * 60_000),
        "30d": seeded.points("30d", 3 * HOUR),
    }
    assert expected["1h"] == 9 and expected["24h"] == 15
    charts = ["#chart-hashrate", "#chart-power", "#chart-efficiency", "#chart-alive"]
    for range_ in ("24h", "1h", "7d", "30d"):
        page.click(f"#charts-range button[data-range='{range_}']")
        expect(section).to_have_attribute("data-loaded", f"miner|{range_}|0", timeout=TIMEOUT)
        expect(page.locator(f"#charts-range button[data-range='{range_}']")).to_have_class("active")
        for chart in charts:
            loc = page.locator(chart)
            expect(loc).to_have_attribute("data-state", "ok")
            expect(loc).to_have_attribute("data-points", str(expected[range_]))
            expect(loc.locator("canvas").first).to_be_visible()
    # Units: 300 TH/s of hashrate, 9 kW, 9000 W / 300 TH/s = 30 J/TH, 3 things.
    expect(page.locator("#chart-hashrate")).to_have_attribute("data-unit", "TH/s")
    expect(page.locator("#chart-power")).to_have_attribute("data-unit", "kW")
    expect(page.locator("#chart-efficiency")).to_have_attribute("data-unit", "J/TH")
    page.locator("#chart-efficiency .u-over").hover()
    expect(page.locator("#chart-efficiency .u-legend")).to_contain_text("30.0 J/TH")

    # The time axis follows the chosen timezone, not the browser's.
    page.click("#charts-range button[data-range='24h']")
    expect(section).to_have_attribute("data-loaded", "miner|24h|0", timeout=TIMEOUT)
    utc_ticks = ticks_of(page, "#chart-hashrate")
    check_ticks(utc_ticks, 0)
    page.select_option("#charts-tz", str(NPT))
    expect(section).to_have_attribute("data-loaded", f"miner|24h|{NPT}", timeout=TIMEOUT)
    npt_ticks = ticks_of(page, "#chart-hashrate")
    check_ticks(npt_ticks, NPT)
    # Ticks sit on NPT's round hours, which are other instants than UTC's.
    assert {t for t, _ in npt_ticks}.isdisjoint({t for t, _ in utc_ticks})
    expect(page.locator("#chart-hashrate")).to_have_attribute("data-points", "15")
    page.screenshot(path=str(SHOTS / "fleet-charts.png"), full_page=True)

    # The choice is in the URL hash and survives a reload (localStorage).
    page.click("#charts-range button[data-range='7d']")
    expect(section).to_have_attribute("data-loaded", f"miner|7d|{NPT}", timeout=TIMEOUT)
    assert "range=7d" in page.url and f"tz={NPT}" in page.url
    page.goto(f"{url}/")
    expect(section).to_have_attribute("data-loaded", f"miner|7d|{NPT}", timeout=TIMEOUT)
    expect(page.locator("#charts-tz")).to_have_value(str(NPT))
    check_ticks(ticks_of(page, "#chart-alive"), NPT)
    # A shared link's hash wins over what was stored.
    page.goto(f"{url}/#type=miner&range=1h&tz={UYT}")
    expect(section).to_have_attribute("data-loaded", f"miner|1h|{UYT}", timeout=TIMEOUT)
    expect(page.locator("#chart-power")).to_have_attribute("data-points", str(expected["1h"]))
    check_ticks(ticks_of(page, "#chart-power"), UYT)

    # Another type without history: every chart says so.
    page.select_option("#charts-type", "rig")
    expect(section).to_have_attribute("data-loaded", f"rig|1h|{UYT}", timeout=TIMEOUT)
    for chart in charts:
        expect(page.locator(chart)).to_have_attribute("data-state", "empty")
        expect(page.locator(f"{chart} .hchart-msg")).to_have_text("No data for this range.")
    assert errors == []
    ctx.close()


def test_thing_page_history(seeded: Seeded, browser: Any) -> None:
    from playwright.sync_api import expect

    url = seeded.server.url
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, url, ADMIN_PASSWORD)
    page.goto(f"{url}/things/m2")
    section = page.locator("#thing-history")
    expect(section).to_have_attribute("data-loaded", "24h|0", timeout=TIMEOUT)
    expect(page.locator("#chart canvas").first).to_be_visible()  # the live chart is kept
    expected = {
        "24h": seeded.points("24h", STEP_MS),
        "7d": seeded.points("7d", STEP_MS, HOUR),
        "30d": seeded.points("30d", STEP_MS, 3 * HOUR),
    }
    for range_ in ("24h", "7d", "30d"):
        page.click(f"#th-range button[data-range='{range_}']")
        expect(section).to_have_attribute("data-loaded", f"{range_}|0", timeout=TIMEOUT)
        for chart in ("#th-chart-hashrate", "#th-chart-power", "#th-chart-temp"):
            expect(page.locator(chart)).to_have_attribute("data-state", "ok")
            expect(page.locator(chart)).to_have_attribute("data-points", str(expected[range_]))
    expect(page.locator("#th-chart-hashrate")).to_have_attribute("data-unit", "TH/s")
    page.locator("#th-chart-temp .u-over").hover()
    expect(page.locator("#th-chart-temp .u-legend")).to_contain_text("71.0 °C")
    page.screenshot(path=str(SHOTS / "thing-history.png"), full_page=True)
    assert errors == []
    ctx.close()


def test_empty_fleet_and_api_errors(live_server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    # The timezones are there for any logged-in user, and only for them.
    tz_url = f"{live_server.url}/api/history/timezones"
    assert httpx.get(tz_url).status_code == 401
    assert httpx.get(tz_url, headers=live_server.headers).json() == [{"code": "UTC", "offset": 0}]

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.clock.install()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.url.endswith("/tailLog") else None)
    login(page, live_server.url, ADMIN_PASSWORD)
    expect(page.locator("#fleet-charts")).to_have_attribute(
        "data-loaded", "miner|24h|0", timeout=TIMEOUT
    )
    # 24 h refreshes every minute.
    assert len(requests) == 1
    page.clock.run_for(61_000)
    wait_until(page, lambda: len(requests) == 2)
    for chart in ("#chart-hashrate", "#chart-power", "#chart-efficiency", "#chart-alive"):
        expect(page.locator(chart)).to_have_attribute("data-state", "empty")
        expect(page.locator(f"{chart} .hchart-msg")).to_have_text("No data for this range.")
        assert page.locator(f"{chart} canvas").count() == 0

    # An API error is shown as text (the message is the server's, never markup).
    def fail(route: Any) -> None:
        route.fulfill(
            status=500,
            content_type="application/json",
            body=json.dumps({"error": "ERR_INTERNAL", "message": "<b>boom</b>"}),
        )

    page.route("**/rpc/tailLog", fail)
    page.click("#charts-range button[data-range='7d']")
    expect(page.locator("#chart-power")).to_have_attribute("data-state", "error", timeout=TIMEOUT)
    expect(page.locator("#chart-power .hchart-msg")).to_have_text(
        "Could not load history: ERR_INTERNAL: <b>boom</b>"
    )
    assert page.locator("#fleet-charts b").count() == 0
    # 7 d does not refresh by itself.
    seen = len(requests)
    page.clock.run_for(121_000)
    page.wait_for_timeout(300)
    assert len(requests) == seen
    ctx.close()
