"""Approval-voted actions in real Chromium, run by a real agent job runner on simulators.

Rack r1 asks two approvals for every action. Ten simulated Antminers are registered in it
and ingested once (online). Operator olga selects all ten on the fleet page and pushes
Reboot: the action waits at "voting 1/2". Operator otto approves it on /actions in another
browser context; the agent's JobRunner (here, with r1's token, against the live server)
reboots each simulator once, and History lists the action with 10 completed results. A
viewer sees neither the selection, the Actions button nor the Approve buttons.

Addresses: 127.93.0.x.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import msgspec
import pytest

from hashfleet.agent.jobs import JobRunner, Journal
from hashfleet.core.clock import now_ms
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.registry import create_driver
from hashfleet.sim.antminer import AntminerSim
from hashfleet.wire.messages import AgentThing
from tests.e2e.conftest import SHOTS
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
T = TypeVar("T")
N = 10
PASSWORD = "two-man-rule-please"
WAIT = 15_000  # ms, for expect()


class Site:
    """Simulators and the agent's job runner on their own event loop, in a thread.

    The browser's sync API owns the main thread's loop, so device-side code runs here.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Fleet:
    """Rack r1 (two approvals), ten Antminer simulators as its things, its agent's jobs."""

    def __init__(self, server: LiveServer, tmp_path: Path) -> None:
        state = server.state
        assert state is not None
        self.server = server
        self.site = Site()
        self.sims = [AntminerSim(f"127.93.0.{i}", seed=i) for i in range(1, N + 1)]
        self.things = {
            f"m{i:02d}": AgentThing(
                id=f"m{i:02d}",
                code=f"M-{i:02d}",
                type="miner",
                opts={
                    "family": "antminer",
                    "address": sim.address,
                    "timeout": 2,
                    "params": {"web": False},
                },
            )
            for i, sim in enumerate(self.sims, start=1)
        }
        votes = {"actionVotes": {"*": {"reqVotesPos": 2}}}
        server.call(state.registry.register_rack("r1", "miner", votes))
        server.call(
            state.registry.register_things(
                [
                    {"rack": "r1", "id": t.id, "code": t.code, "opts": t.opts}
                    for t in self.things.values()
                ]
            )
        )
        token = server.call(state.auth.create_rack_token("r1"))
        self.headers = {"Authorization": f"Bearer {token}"}
        self.journal = Journal(tmp_path / "agent" / "jobs.db")
        self.runner = JobRunner(
            self.journal, server.url, self.things.get, wait_s=0.5, retry_s=0.2, timeout_s=10
        )
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task[None] | None = None
        self.site.call(self._start())

    async def _start(self) -> None:
        for sim in self.sims:
            await sim.start()
        self.session = aiohttp.ClientSession(headers=self.headers)
        self.task = asyncio.create_task(self.runner.run(self.session))

    async def _stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.close()
        for sim in self.sims:
            await sim.stop()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.site.call(self._stop())
        self.site.stop()
        self.journal.close()

    def ingest_once(self) -> None:
        """Poll every simulator once with its driver and post the snapshots as the agent."""

        async def collect() -> list[dict[str, Any]]:
            items = []
            for seq, thing in enumerate(self.things.values(), start=1):
                driver = create_driver(parse_options(thing.opts))
                try:
                    snap = await driver.collect()
                finally:
                    await driver.close()
                items.append(
                    {
                        "seq": seq,
                        "thing_id": thing.id,
                        "ts": now_ms(),
                        "snap": msgspec.to_builtins(snap),
                    }
                )
            return items

        items = self.site.call(collect())
        resp = httpx.post(
            f"{self.server.url}/api/agent/ingest",
            json={"spool_id": "actions-flow", "items": items},
            headers=self.headers,
            timeout=30,
        )
        assert resp.status_code == 200, resp.text


@pytest.fixture
def fleet(live_server: LiveServer, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(live_server, tmp_path)
    try:
        f.ingest_once()
        yield f
    finally:
        f.stop()


def log_in(browser: Any, url: str, username: str, errors: list[str]) -> Any:
    """A new browser context (its own session cookie) logged in as ``username``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{username}: {exc}"))
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    return page


def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_operators_reboot_ten_miners(
    live_server: LiveServer, fleet: Fleet, browser: Any
) -> None:
    from playwright.sync_api import expect

    state = live_server.state
    assert state is not None
    for name, role in (("olga", "operator"), ("otto", "operator"), ("vera", "viewer")):
        live_server.call(state.auth.create_user(name, PASSWORD, role))
    url = live_server.url
    errors: list[str] = []
    started = time.time()
    uptimes = [sim.uptime(started) for sim in fleet.sims]
    assert min(uptimes) > 3600  # the simulators have been up for hours

    # -- olga selects the ten miners and pushes Reboot --------------------------------------
    olga = log_in(browser, url, "olga", errors)
    expect(olga.locator("#row-count")).to_have_text(f"{N} of {N} things", timeout=WAIT)
    rows = olga.locator(".row")
    expect(rows).to_have_count(N)
    expect(rows.first.locator(".st")).to_have_text("online")
    expect(olga.locator("#actions-open")).to_be_disabled()
    # One by one, then "all matching", then one unticked and ticked again: ten explicit ids.
    rows.nth(0).locator(".sel input").click()
    expect(olga.locator("#sel-count")).to_have_text("1 selected")
    assert olga.url == f"{url}/"  # ticking a box does not open the thing
    olga.click("#sel-head")
    expect(olga.locator("#sel-count")).to_have_text(f"All {N} matching selected")
    expect(olga.locator(".row .sel input:checked")).to_have_count(N)
    rows.nth(3).locator(".sel input").click()
    expect(olga.locator("#sel-count")).to_have_text(f"{N - 1} selected")
    expect(rows.nth(3).locator(".sel input")).not_to_be_checked()
    rows.nth(3).locator(".sel input").click()
    expect(olga.locator("#sel-count")).to_have_text(f"{N} selected")

    olga.click("#actions-open")
    dialog = olga.locator("#act-dialog")
    expect(dialog).to_be_visible()
    expect(olga.locator("#act-summary")).to_have_text(f"{N} things selected: antminer \u00d7 {N}")
    # Only what an Antminer can do is offered.
    options = olga.locator("#act-action option")
    assert sorted(options.all_inner_texts()) == sorted(
        ["Reboot", "Set power mode", "LED on/off", "Set pools"]
    )
    olga.select_option("#act-action", "setPools")
    expect(olga.locator(".act-pool")).to_have_count(3)
    olga.select_option("#act-action", "reboot")
    expect(olga.locator(".act-pool").first).to_be_hidden()
    expect(olga.locator("#act-leftout")).to_be_hidden()
    olga.click("#act-push")
    result = olga.locator("#act-result")
    expect(result.locator("#act-state")).to_have_text("voting 1/2", timeout=WAIT)
    expect(result).to_contain_text(f"on {N} things")
    expect(result.locator("a[href='/actions']")).to_be_visible()
    action_id = int(result.get_attribute("data-action-id") or "0")
    olga.screenshot(path=str(SHOTS / "actions-dialog.png"))

    doc = live_server.call(state.actions.get(action_id))
    assert doc is not None and doc["state"] == "voting" and doc["creator"] == "olga"
    assert list(doc["query"]) == ["id"] and list(doc["query"]["id"]) == ["$in"]
    assert sorted(doc["query"]["id"]["$in"]) == sorted(fleet.things)  # explicit ids

    olga.click("#act-close")
    expect(dialog).to_be_hidden()
    olga.click("#nav-actions")
    expect(olga).to_have_url(f"{url}/actions")
    row = olga.locator(f"#open-rows tr[data-id='{action_id}']")
    expect(row).to_have_count(1, timeout=WAIT)
    expect(row.locator(".ac-name")).to_have_text("reboot")
    expect(row.locator(".ac-creator")).to_have_text("olga")
    expect(row.locator(".ac-targets")).to_have_text(str(N))
    expect(row.locator(".ac-votes")).to_have_text("1/2")
    expect(row.locator(".ac-state")).to_have_text("voting 1/2")
    expect(row.locator(".ac-approve")).to_have_count(0)  # her own vote counts already
    expect(row.locator(".ac-cancel")).to_have_count(1)  # the creator may cancel
    assert all(sim.reboots == 0 for sim in fleet.sims)

    # -- a viewer sees no selection, no Actions button, no Approve ---------------------------
    vera = log_in(browser, url, "vera", errors)
    expect(vera.locator("#row-count")).to_have_text(f"{N} of {N} things", timeout=WAIT)
    assert vera.locator("#actions-open").count() == 0
    assert vera.locator(".sel").count() == 0
    vera.goto(f"{url}/actions")
    vrow = vera.locator(f"#open-rows tr[data-id='{action_id}']")
    expect(vrow.locator(".ac-state")).to_have_text("voting 1/2", timeout=WAIT)
    assert vera.locator("#open-rows button").count() == 0
    vera.context.close()

    # -- otto approves; the agent reboots every simulator once -------------------------------
    otto = log_in(browser, url, "otto", errors)
    otto.goto(f"{url}/actions")
    orow = otto.locator(f"#open-rows tr[data-id='{action_id}']")
    expect(orow.locator(".ac-approve")).to_be_visible(timeout=WAIT)
    expect(orow.locator(".ac-cancel")).to_have_count(0)  # not his action, not an admin
    otto.screenshot(path=str(SHOTS / "actions-open.png"))
    orow.locator(".ac-approve").click()
    expect(otto.locator("#ac-msg")).to_have_text(f"Approved action #{action_id}.")

    wait_for(lambda: all(sim.reboots == 1 for sim in fleet.sims))
    now = time.time()
    assert all(sim.uptime(now) < now - started + 1 for sim in fleet.sims)  # uptime restarted
    # Done actions leave the open list (live, on both operators' pages).
    expect(row).to_have_count(0, timeout=WAIT)
    expect(orow).to_have_count(0, timeout=WAIT)
    expect(olga.locator("#open-empty")).to_be_visible()

    # -- History: the action with ten completed results --------------------------------------
    olga.click("#tab-history")
    hrow = olga.locator(f"#history-rows tr.ac-hrow[data-id='{action_id}']")
    expect(hrow).to_have_count(1, timeout=WAIT)
    expect(hrow.locator(".ac-state")).to_have_text("done")
    expect(hrow.locator(".ac-summary")).to_have_text(f"{N} completed, 0 failed")
    hrow.locator(".ac-expand").click()
    results = olga.locator(
        f"#history-rows tr.ac-detail[data-for='{action_id}'] .ac-results tbody tr"
    )
    expect(results).to_have_count(N)
    expect(results.locator("td.ac-r-completed")).to_have_count(N)
    expect(results.first).to_contain_text("M-01")
    olga.screenshot(path=str(SHOTS / "actions-history.png"))
    # Reboots are not run twice.
    assert all(sim.reboots == 1 for sim in fleet.sims)
    assert fleet.runner.ran == N
    assert errors == []


EVIL = '<img src=x onerror="window.__xss=1">'


def test_actions_page_renders_hostile_text_as_text(live_server: LiveServer, browser: Any) -> None:
    """Creator names, params and per-target error texts are text; pool passwords are hidden."""
    from playwright.sync_api import expect

    from hashfleet.server.actions.model import FAILED
    from tests.e2e.conftest import login
    from tests.support.live_server import ADMIN_PASSWORD

    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r9", "miner", {}))
    live_server.call(
        state.registry.register_things(
            [
                {
                    "rack": "r9",
                    "id": "e1",
                    "code": "E-1",
                    "opts": {"family": "antminer", "address": "127.93.1.1"},
                }
            ]
        )
    )
    uid = live_server.call(state.auth.create_user(EVIL, PASSWORD, "operator"))
    token = live_server.call(state.auth.create_api_token(uid, "tests", True))
    headers = {"Authorization": f"Bearer {token}"}

    def push(action: str, params: list[Any]) -> int:
        resp = httpx.post(
            f"{live_server.url}/rpc/pushAction",
            json={"query": {"id": "e1"}, "action": action, "params": params},
            headers=headers,
        )
        assert resp.status_code == 200, resp.text
        return int(resp.json()["id"])

    pools = [{"url": EVIL, "user": EVIL, "password": "hunter2-secret"}]
    pools_id = push("setPools", [pools])  # one vote needed: ready, then executing (no agent)

    # Its one target fails with a hostile error text: the action is done.
    def executing() -> bool:
        doc = live_server.call(state.actions.get(pools_id))
        return doc is not None and doc["state"] == "executing"

    wait_for(executing)
    live_server.call(state.actions.record_result(pools_id, "e1", FAILED, error=EVIL))
    open_id = push("setLed", [True])
    # The executor takes ready actions at once; the open one stays executing (no agent runs).

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, live_server.url, ADMIN_PASSWORD)
    page.goto(f"{live_server.url}/actions")
    row = page.locator(f"#open-rows tr[data-id='{open_id}']")
    expect(row.locator(".ac-creator")).to_have_text(EVIL, timeout=WAIT)
    expect(row.locator(".ac-state")).to_contain_text("executing")
    page.click("#tab-history")
    hrow = page.locator(f"#history-rows tr.ac-hrow[data-id='{pools_id}']")
    expect(hrow.locator(".ac-summary")).to_have_text("0 completed, 1 failed", timeout=WAIT)
    expect(hrow.locator(".ac-creator")).to_have_text(EVIL)
    expect(hrow.locator(".ac-params")).to_contain_text("<img")
    hrow.locator(".ac-expand").click()
    detail = page.locator(f"#history-rows tr.ac-detail[data-for='{pools_id}']")
    expect(detail.locator(".ac-error")).to_have_text(EVIL)
    assert "hunter2" not in page.content()  # pool passwords are masked
    assert page.locator("#actions-page img").count() == 0
    assert page.evaluate("window.__xss") is None
