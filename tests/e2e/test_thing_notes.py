"""The thing page's open alerts, comments and change log, in real Chromium.

Alerts come from the server's rules on ingested snapshots; comments are written through
the page and by another user through the RPC; the change log shows an updateThing made
through the RPC, with who and what changed. Device text and comments are shown as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hashfleet.core.clock import now_ms
from tests.e2e.conftest import SHOTS, login
from tests.support.live_server import ADMIN_PASSWORD, LiveServer

pytestmark = pytest.mark.e2e
EVIL = '<img src=x onerror="window.__xss=1">'


class Rack:
    """Rack r1 with one Antminer m1 and a rack token to post its snapshots."""

    def __init__(self, server: LiveServer) -> None:
        state = server.state
        assert state is not None
        server.call(state.registry.register_rack("r1", "miner", {}))
        thing = {
            "rack": "r1",
            "id": "m1",
            "code": "M-1",
            "info": {"site": {"row": 1}},
            "opts": {"family": "antminer", "address": "127.0.9.1"},
        }
        server.call(state.registry.register_things([thing]))
        token = server.call(state.auth.create_rack_token("r1"))
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = server.url
        self.seq = 0

    def send(self, chip: float) -> None:
        self.seq += 1
        snap = {
            "stats": {
                "status": "online",
                "hashboards": [{"index": 0, "temp_chip": chip, "temp_board": 55, "ok": True}],
                "fans": [{"index": 0, "rpm": 5000}],
            },
            "config": {"model": "S19"},
        }
        item = {"seq": self.seq, "thing_id": "m1", "ts": now_ms(), "snap": snap}
        resp = httpx.post(
            f"{self.url}/api/agent/ingest",
            json={"spool_id": "notes", "items": [item]},
            headers=self.headers,
        )
        assert resp.status_code == 200, resp.text


def user_headers(server: LiveServer, name: str, role: str) -> dict[str, str]:
    """A new user's read-write API token."""
    state = server.state
    assert state is not None
    uid = server.call(state.auth.create_user(name, f"{name}-password", role))
    token = server.call(state.auth.create_api_token(uid, "t", True))
    return {"Authorization": f"Bearer {token}"}


def rpc(server: LiveServer, method: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    resp = httpx.post(f"{server.url}/rpc/{method}", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def page(live_server: LiveServer, browser: Any) -> Iterator[Any]:
    p = browser.new_page(viewport={"width": 1400, "height": 1600})
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield p
        assert errors == []
    finally:
        p.close()


def test_alerts_comments_and_change_log(live_server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    rack = Rack(live_server)
    bob = user_headers(live_server, "bob", "operator")
    rack.send(chip=99)  # temp_chip, critical
    rpc(live_server, "saveThingComment", {"thingId": "m1", "comment": f"bob was here {EVIL}"}, bob)
    rpc(
        live_server,
        "updateThing",
        {"id": "m1", "info": {"site": {"row": 2}}, "comment": "moved"},
        live_server.headers,
    )

    login(page, live_server.url, ADMIN_PASSWORD)
    page.goto(f"{live_server.url}/things/m1")

    # The open alert, live; it leaves when the chip cools down.
    alerts = page.locator("#n-alerts tr[data-alert-id]")
    expect(alerts).to_have_count(1, timeout=10_000)
    expect(alerts.first).to_contain_text("critical")
    expect(alerts.first).to_contain_text("Chip temperature high")
    expect(page.locator("#nav-alerts-count")).to_have_text("1")
    rack.send(chip=60)
    expect(alerts).to_have_count(0, timeout=10_000)
    expect(page.locator("#n-alerts")).to_contain_text("No open alerts.")

    # Bob's comment: shown as text; the admin may delete it but not edit it.
    comments = page.locator("#n-comments li.comment")
    expect(comments).to_have_count(1)
    expect(comments.first).to_contain_text(f"bob was here {EVIL}")
    assert comments.first.locator("button[data-act=edit]").count() == 0
    assert comments.first.locator("button[data-act=delete]").count() == 1

    # The admin's own comment through the form, then edited through the prompt.
    page.fill("#n-comment-text", "replaced the fan")
    page.click("#n-comment-form button[type=submit]")
    expect(comments).to_have_count(2)
    mine = comments.first  # newest first
    expect(mine).to_contain_text("admin")
    page.once("dialog", lambda d: d.accept("replaced both fans"))
    mine.locator("button[data-act=edit]").click()
    expect(mine.locator(".comment-body")).to_have_text("replaced both fans")
    expect(mine).to_contain_text("edited")

    # Deleting bob's comment (admins may delete anyone's).
    page.once("dialog", lambda d: d.accept())
    comments.nth(1).locator("button[data-act=delete]").click()
    expect(comments).to_have_count(1)
    listed = rpc(live_server, "getThingComments", {"thingId": "m1"}, bob)
    assert [c["comment"] for c in listed] == ["replaced both fans"]

    # The change log: the registration and the update, who made it and what changed.
    changes = page.locator("#n-changes tbody tr")
    expect(changes).to_have_count(2)
    expect(changes.first).to_contain_text("admin")
    expect(changes.first).to_contain_text("update")
    expect(changes.first).to_contain_text("moved")
    expect(changes.first).to_contain_text("info.site.row: 1 → 2")
    expect(changes.nth(1)).to_contain_text("register")
    page.screenshot(path=str(SHOTS / "thing-notes.png"), full_page=True)

    assert page.locator("img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_viewer_reads_but_cannot_comment(live_server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    Rack(live_server)
    state = live_server.state
    assert state is not None
    live_server.call(state.auth.create_user("vic", "vic-password", "viewer"))
    rpc(live_server, "saveThingComment", {"thingId": "m1", "comment": "hello"}, live_server.headers)

    page.goto(f"{live_server.url}/login")
    page.fill("input[name=username]", "vic")
    page.fill("input[name=password]", "vic-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/things/m1")
    comments = page.locator("#n-comments li.comment")
    expect(comments).to_have_count(1, timeout=10_000)
    expect(comments.first).to_contain_text("hello")
    expect(page.locator("#n-comment-form")).to_be_hidden()
    assert comments.first.locator("button").count() == 0
