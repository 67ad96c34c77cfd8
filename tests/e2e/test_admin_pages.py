"""The admin and account pages in real Chromium against a live server.

An admin creates people and a custom role, assigns it, disables and enables a person,
resets a password and sees the server's refusals (last admin, deleting oneself, a bad
permission, a role in use) as text; a token created on the account page works until it is
revoked from the admin page. An operator cannot open the admin page, makes and revokes
their own token and changes their password. Hostile usernames, role descriptions and token
names render as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SHOTS, login
from tests.support.live_server import ADMIN_PASSWORD, LiveServer

pytestmark = pytest.mark.e2e
EVIL = '<img src=x onerror="window.__xss=1">'
OP_PASSWORD = "operator-pass-1"


@pytest.fixture
def page(live_server: LiveServer, browser: Any) -> Iterator[Any]:
    p = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("dialog", lambda dialog: dialog.accept())  # the confirm() before deletes/revokes
    try:
        yield p
        assert errors == []  # no script error on the page
        assert p.evaluate("window.__xss") is None
    finally:
        p.close()


def login_as(page: Any, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def api_users(server: LiveServer) -> dict[str, dict[str, Any]]:
    resp = httpx.get(f"{server.url}/api/users", headers=server.headers)
    assert resp.status_code == 200, resp.text
    return {u["username"]: u for u in resp.json()}


def me_status(server: LiveServer, token: str) -> int:
    resp = httpx.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"})
    return resp.status_code


def test_admin_manages_people_roles_and_tokens(live_server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    url = live_server.url
    login(page, url, ADMIN_PASSWORD)
    expect(page.locator("#nav-account")).to_be_visible()
    page.click("#nav-admin")
    expect(page).to_have_url(f"{url}/admin")

    # Built-in roles are listed and marked; the create form offers every role.
    roles = page.locator("#roles-rows tr")
    expect(roles).to_have_count(3, timeout=10_000)
    expect(page.locator("#roles-rows tr[data-role=admin] .adm-builtin")).to_have_text("built-in")
    expect(page.locator("#roles-rows tr[data-role=viewer] .adm-chip")).to_have_text("*:r")
    expect(page.locator("#roles-rows tr[data-role=admin] button")).to_have_count(0)

    # Create an operator and a person with a hostile name.
    users = page.locator("#users-rows tr")
    expect(users).to_have_count(1)
    expect(users.first).to_contain_text("admin (you)")
    page.fill("#u-name", "op1")
    page.fill("#u-password", OP_PASSWORD)
    page.select_option("#u-role", "operator")
    page.click("#u-create")
    expect(page.locator("#u-msg")).to_have_text("op1 created")
    page.fill("#u-name", EVIL)
    page.fill("#u-password", "evil-password-1")
    page.select_option("#u-role", "viewer")
    page.click("#u-create")
    expect(users).to_have_count(3)
    evil_row = users.filter(has=page.locator("select")).filter(has_text="<img")
    expect(evil_row.locator(".adm-name")).to_have_text(EVIL)
    expect(page.locator("#u-msg")).to_have_text(f"{EVIL} created")
    # A taken name is refused with the server's code.
    page.fill("#u-name", "op1")
    page.fill("#u-password", OP_PASSWORD)
    page.click("#u-create")
    expect(page.locator("#u-msg")).to_contain_text("ERR_USER_EXISTS")
    expect(page.locator("#u-msg")).to_have_class(re.compile(r"error"))

    # A custom role: a bad permission is refused, then techs with miner:rw and a hostile
    # description.
    page.fill("#r-name", "techs")
    page.fill("#r-perms", "miner:x")
    page.click("#r-save")
    expect(page.locator("#r-msg")).to_contain_text("ERR_PERMISSION_INVALID")
    page.fill("#r-perms", "miner:rw")
    page.fill("#r-desc", EVIL)
    page.click("#r-save")
    techs = page.locator("#roles-rows tr[data-role=techs]")
    expect(techs.locator(".adm-chip")).to_have_text("miner:rw")
    expect(techs.locator(".adm-desc")).to_have_text(EVIL)
    expect(techs.locator(".adm-builtin")).to_have_count(0)
    # Edit it: a second permission, as chips.
    techs.locator(".adm-edit").click()
    expect(page.locator("#r-name")).to_have_value("techs")
    page.fill("#r-perms", "miner:rw, container:r")
    page.click("#r-save")
    expect(techs.locator(".adm-chip")).to_have_text(["container:r", "miner:rw"])
    expect(page.locator("#r-save")).to_have_text("Create role")

    # Assign techs to op1: the role select now offers it.
    op_row = page.locator("#users-rows tr", has_text="op1")
    op_row.locator("select").select_option("techs")
    expect(page.locator("#u-msg")).to_have_text("op1 is now techs")
    assert api_users(live_server)["op1"]["role"] == "techs"
    # A role someone holds cannot be deleted.
    techs.locator(".adm-delete").click()
    expect(page.locator("#r-msg")).to_contain_text("ERR_ROLE_IN_USE")

    # Disable, then enable op1: a disabled person cannot log in.
    op_row.locator(".adm-toggle").click()
    expect(op_row.locator(".adm-state")).to_have_text("disabled")
    expect(op_row.locator(".adm-toggle")).to_have_text("Enable")
    assert api_users(live_server)["op1"]["disabled"] is True
    op_row.locator(".adm-toggle").click()
    expect(op_row.locator(".adm-state")).to_have_text("enabled")
    assert api_users(live_server)["op1"]["disabled"] is False

    # Reset op1's password: the new one logs in (form post, no cookies kept).
    op_row.locator(".adm-reset").click()
    op_row.locator(".adm-newpw").fill("reset-password-2")
    op_row.locator(".adm-reset-save").click()
    expect(page.locator("#u-msg")).to_have_text("password of op1 reset")
    expect(op_row.locator(".adm-newpw")).to_be_hidden()
    resp = httpx.post(f"{url}/login", data={"username": "op1", "password": "reset-password-2"})
    assert resp.status_code == 303, resp.text

    # The server's refusals are shown: demoting the last admin, deleting oneself.
    me_row = page.locator("#users-rows tr", has_text="(you)")
    me_row.locator("select").select_option("viewer")
    expect(page.locator("#u-msg")).to_contain_text("ERR_LAST_ADMIN")
    expect(me_row.locator("select")).to_have_value("admin")  # put back
    me_row.locator(".adm-delete").click()
    expect(page.locator("#u-msg")).to_contain_text("ERR_USER_SELF")
    assert api_users(live_server)["admin"]["role"] == "admin"

    # Back to operator, then techs can go; deleting the hostile-named person works too.
    op_row.locator("select").select_option("operator")
    expect(page.locator("#u-msg")).to_have_text("op1 is now operator")
    techs.locator(".adm-delete").click()
    expect(techs).to_have_count(0)
    expect(roles).to_have_count(3)
    evil_row.locator(".adm-delete").click()
    expect(users).to_have_count(2)

    # A token made on the account page works until it is revoked from the admin page.
    page.click("#nav-account")
    expect(page).to_have_url(f"{url}/account")
    expect(page.locator("#me-role")).to_have_text("admin")
    page.fill("#tok-name", EVIL)
    page.click("#tok-create")
    secret = page.locator("#tok-secret")
    expect(page.locator("#tok-new")).to_be_visible()
    expect(secret).to_have_value(re.compile(r"^hfa_"))
    token = secret.input_value()
    assert me_status(live_server, token) == 200
    page.click("#nav-admin")
    tok_row = page.locator("#tokens-rows tr", has_text="<img")
    expect(tok_row.locator(".adm-name").nth(1)).to_have_text(EVIL)
    expect(tok_row.locator(".adm-state")).to_have_text("active")
    expect(users).to_have_count(2)
    page.screenshot(path=str(SHOTS / "admin.png"), full_page=True)
    tok_row.locator(".adm-revoke").click()
    expect(tok_row.locator(".adm-state")).to_have_text("revoked")
    expect(tok_row.locator(".adm-revoke")).to_have_count(0)
    assert me_status(live_server, token) == 401
    assert page.locator("#admin-page img").count() == 0


def test_operator_account_page_tokens_and_password(live_server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    url = live_server.url
    for path in ("/admin", "/account"):  # nobody logged in: the login form
        anon = httpx.get(f"{url}{path}")
        assert anon.status_code == 303 and anon.headers["location"] == "/login"
    for name, role in ((EVIL, "operator"), ("viewer1", "viewer")):
        password = OP_PASSWORD if role == "operator" else "viewer-pass-1"
        body = {"username": name, "password": password, "role": role}
        resp = httpx.post(f"{url}/api/users", json=body, headers=live_server.headers)
        assert resp.status_code == 201, resp.text

    # The hostile-named operator: no admin link, the admin page is refused.
    login_as(page, url, EVIL, OP_PASSWORD)
    expect(page).to_have_url(f"{url}/")
    expect(page.locator("#nav-admin")).to_have_count(0)
    expect(page.locator(".who")).to_have_text(f"{EVIL} (operator)")
    resp = page.goto(f"{url}/admin")
    assert resp is not None and resp.status == 403
    expect(page.locator("#forbidden h1")).to_have_text("Not allowed")

    # Who am I.
    page.click("#nav-account")
    expect(page.locator("#me-name")).to_have_text(EVIL)
    expect(page.locator("#me-role")).to_have_text("operator")
    expect(page.locator("#me-perms .adm-chip")).to_have_text("*:rw")
    expect(page.locator("#my-tokens-empty")).to_be_visible()
    expect(page.locator("#tok-write")).to_be_enabled()

    # A bad scope is refused; a scoped, expiring token is shown once and works.
    page.fill("#tok-name", "ci")
    page.fill("#tok-scopes", "miner")
    page.click("#tok-create")
    expect(page.locator("#tok-msg")).to_contain_text("ERR_PERMISSION_INVALID")
    expect(page.locator("#tok-new")).to_be_hidden()
    page.fill("#tok-scopes", "miner:r")
    page.fill("#tok-days", "7")
    page.click("#tok-create")
    expect(page.locator("#tok-new")).to_be_visible()
    expect(page.locator("#tok-new .adm-warn")).to_contain_text("shown only once")
    token = page.locator("#tok-secret").input_value()
    assert token.startswith("hfa_")
    resp_me = httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert resp_me.status_code == 200
    assert resp_me.json()["permissions"] == ["miner:r"]
    row = page.locator("#my-tokens-rows tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("ci")
    expect(row.first.locator(".adm-chip")).to_have_text("miner:r")
    expect(row.first.locator(".adm-state")).to_have_text("active")
    page.screenshot(path=str(SHOTS / "account.png"), full_page=True)
    page.click("#tok-done")
    expect(page.locator("#tok-new")).to_be_hidden()
    page.reload()
    expect(row).to_have_count(1)
    expect(page.locator("#tok-secret")).to_have_value("")  # never shown again
    row.first.locator(".adm-revoke").click()
    expect(row.first.locator(".adm-state")).to_have_text("revoked")
    assert me_status(live_server, token) == 401

    # Password: a mismatch and a wrong current password are refused, then it changes.
    page.fill("#pw-current", OP_PASSWORD)
    page.fill("#pw-new", "new-operator-pass")
    page.fill("#pw-confirm", "something-else-1")
    page.click("#pw-save")
    expect(page.locator("#pw-msg")).to_contain_text("differ")
    page.fill("#pw-current", "not-my-password")
    page.fill("#pw-confirm", "new-operator-pass")
    page.click("#pw-save")
    expect(page.locator("#pw-msg")).to_contain_text("ERR_PASSWORD_WRONG")
    page.fill("#pw-current", OP_PASSWORD)
    page.fill("#pw-new", "new-operator-pass")
    page.fill("#pw-confirm", "new-operator-pass")
    page.click("#pw-save")
    expect(page.locator("#pw-msg")).to_contain_text("password changed")
    page.click(".logout button")
    expect(page).to_have_url(f"{url}/login")
    login_as(page, url, EVIL, OP_PASSWORD)
    expect(page.locator(".error")).to_contain_text("wrong username or password")
    login_as(page, url, EVIL, "new-operator-pass")
    expect(page).to_have_url(f"{url}/")
    assert page.locator("img").count() == 0

    # A viewer's tokens are read-only: the write box is off and disabled.
    page.click(".logout button")
    login_as(page, url, "viewer1", "viewer-pass-1")
    expect(page).to_have_url(f"{url}/")
    page.goto(f"{url}/account")
    expect(page.locator("#me-perms .adm-chip")).to_have_text("*:r")
    expect(page.locator("#tok-write")).to_be_disabled()
    expect(page.locator("#tok-write")).not_to_be_checked()
    expect(page.locator("#tok-write-note")).to_be_visible()
