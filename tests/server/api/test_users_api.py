"""People, roles, tokens and /api/me over HTTP: who may do what, the last-admin guard,
login lockout and CSRF on cookie-authenticated writes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.live_server import ADMIN_PASSWORD, LiveServer


def api(
    server: LiveServer, method: str, path: str, token: str | None = None, **kw: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or server.admin_token}"}
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=10, **kw)


def login(server: LiveServer, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=10)
    resp = client.post("/login", data={"username": username, "password": password})
    assert resp.status_code == 303, resp.text
    return client


def token_of(server: LiveServer, username: str, password: str, **body: Any) -> str:
    client = login(server, username, password)
    resp = client.post("/api/tokens", json={"name": "t", **body}, headers=_same_origin(server))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def _same_origin(server: LiveServer) -> dict[str, str]:
    return {"Origin": server.url}


def test_admin_manages_people_and_roles(live_server: LiveServer) -> None:
    s = live_server
    assert (
        api(
            s,
            "POST",
            "/api/users",
            json={"username": "op", "password": "op-password", "role": "operator"},
        ).status_code
        == 201
    )
    viewer = api(
        s,
        "POST",
        "/api/users",
        json={"username": "vi", "password": "vi-password", "role": "viewer"},
    )
    assert viewer.status_code == 201 and viewer.json()["role"] == "viewer"
    assert "password_hash" not in viewer.json()
    dup = api(
        s, "POST", "/api/users", json={"username": "vi", "password": "x" * 8, "role": "viewer"}
    )
    assert dup.status_code == 409 and dup.json()["error"] == "ERR_USER_EXISTS"
    bad_role = api(
        s, "POST", "/api/users", json={"username": "zz", "password": "x" * 8, "role": "tech"}
    )
    assert bad_role.status_code == 400 and bad_role.json()["error"] == "ERR_ROLE_INVALID"

    # A custom role, given to someone, then in use; built-ins are immutable.
    role = api(
        s,
        "POST",
        "/api/roles",
        json={"name": "tech", "permissions": ["miner:rw"], "description": "miners only"},
    )
    assert role.status_code == 201 and role.json()["builtin"] is False
    tech = api(
        s, "POST", "/api/users", json={"username": "te", "password": "te-password", "role": "tech"}
    )
    assert tech.status_code == 201
    names = [r["name"] for r in api(s, "GET", "/api/roles").json()]
    assert names == ["admin", "operator", "viewer", "tech"]
    in_use = api(s, "DELETE", "/api/roles/tech")
    assert in_use.status_code == 409 and in_use.json()["error"] == "ERR_ROLE_IN_USE"
    for method, body in (("PUT", {"permissions": ["*:rw"]}), ("DELETE", None)):
        resp = api(s, method, "/api/roles/viewer", json=body)
        assert resp.status_code == 400 and resp.json()["error"] == "ERR_ROLE_BUILTIN"
    bad = api(s, "PUT", "/api/roles/tech", json={"permissions": ["miner"]})
    assert bad.status_code == 400 and bad.json()["error"] == "ERR_PERMISSION_INVALID"

    # The custom role's permissions reach its holder, and a change applies at once.
    te_token = token_of(s, "te", "te-password")
    me = api(s, "GET", "/api/me", te_token).json()
    assert (me["role"], me["permissions"], me["can_write"], me["is_admin"]) == (
        "tech",
        ["miner:rw"],
        True,
        False,
    )
    assert api(s, "PUT", "/api/roles/tech", json={"permissions": ["miner:r"]}).status_code == 200
    assert api(s, "GET", "/api/me", te_token).json()["permissions"] == ["miner:r"]

    # Disable, enable, role change and password reset through PATCH.
    uid = tech.json()["id"]
    assert api(s, "PATCH", f"/api/users/{uid}", json={"disabled": True}).json()["disabled"]
    assert api(s, "GET", "/api/me", te_token).status_code == 401
    changed = api(
        s,
        "PATCH",
        f"/api/users/{uid}",
        json={"disabled": False, "role": "viewer", "password": "new-te-password"},
    )
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    assert api(s, "GET", "/api/me", te_token).json()["permissions"] == ["*:r"]
    login(s, "te", "new-te-password")
    assert api(s, "DELETE", "/api/roles/tech").status_code == 204
    assert api(s, "DELETE", f"/api/users/{uid}").status_code == 204
    assert api(s, "GET", "/api/me", te_token).status_code == 401
    assert "te" not in [u["username"] for u in api(s, "GET", "/api/users").json()]


def test_operators_and_viewers_are_not_admins(live_server: LiveServer) -> None:
    s = live_server
    state = s.state
    assert state is not None
    s.call(state.auth.create_user("op", "op-password", "operator"))
    s.call(state.auth.create_user("vi", "vi-password", "viewer"))
    op, vi = token_of(s, "op", "op-password"), token_of(s, "vi", "vi-password")
    for token in (op, vi):
        for method, path, body in (
            ("GET", "/api/users", None),
            ("POST", "/api/users", {"username": "x", "password": "x" * 8, "role": "admin"}),
            ("GET", "/api/roles", None),
            ("POST", "/api/roles", {"name": "r", "permissions": ["*:rw"]}),
            ("GET", "/api/tokens?all=1", None),
        ):
            resp = api(s, method, path, token, json=body)
            assert resp.status_code == 403, (method, path)
            assert resp.json()["error"] == "ERR_ACTION_DENIED"
    # The operator writes, the viewer reads.
    reg = {"id": "rack-x", "type": "miner"}
    assert api(s, "POST", "/rpc/registerRack", vi, json=reg).status_code == 403
    assert api(s, "POST", "/rpc/registerRack", op, json=reg).json() == 1
    assert api(s, "GET", "/api/me", vi).json()["can_write"] is False

    # Tokens: one's own only; an admin sees all and revokes any.
    mine = api(s, "GET", "/api/tokens", op).json()
    assert [t["username"] for t in mine] == ["op"] and "token" not in mine[0]
    everyone = {t["username"] for t in api(s, "GET", "/api/tokens?all=1").json()}
    assert everyone == {"admin", "op", "vi"}
    vi_id = api(s, "GET", "/api/tokens", vi).json()[0]["id"]
    resp = api(s, "DELETE", f"/api/tokens/{vi_id}", op)
    assert resp.status_code == 404 and resp.json()["error"] == "ERR_TOKEN_NOT_FOUND"
    assert api(s, "DELETE", f"/api/tokens/{vi_id}").status_code == 204
    assert api(s, "GET", "/api/me", vi).status_code == 401
    revoked = [t for t in api(s, "GET", "/api/tokens?all=1").json() if t["id"] == vi_id]
    assert revoked[0]["revoked_at"] is not None


def test_a_token_never_mints_a_broader_one(live_server: LiveServer) -> None:
    s = live_server
    scoped = api(
        s,
        "POST",
        "/api/tokens",
        json={"name": "scoped", "scopes": ["miner:rw"], "expires_in_days": 1},
    ).json()
    assert scoped["scopes"] == ["miner:rw"] and scoped["expires_at"] is not None
    child = api(
        s,
        "POST",
        "/api/tokens",
        scoped["token"],
        json={"name": "child", "scopes": ["*:rw"], "expires_in_days": 30},
    ).json()
    assert child["scopes"] == ["miner:rw"] and child["expires_at"] == scoped["expires_at"]
    me = api(s, "GET", "/api/me", child["token"]).json()
    assert me["permissions"] == ["miner:rw"] and me["is_admin"]
    ro = api(s, "POST", "/api/tokens", json={"name": "ro", "write": False}).json()
    assert ro["write"] is False
    refused = api(s, "POST", "/api/tokens", ro["token"], json={"name": "rw"})
    assert refused.status_code == 403 and refused.json()["error"] == "ERR_MISSING_WRITE_PERMISSIONS"
    assert api(s, "GET", "/api/me", ro["token"]).json()["permissions"] == ["*:r"]


def test_the_last_admin_stays(live_server: LiveServer) -> None:
    s = live_server
    me = api(s, "GET", "/api/me").json()
    for body in ({"role": "operator"}, {"disabled": True}):
        resp = api(s, "PATCH", f"/api/users/{me['id']}", json=body)
        assert resp.status_code == 409 and resp.json()["error"] == "ERR_LAST_ADMIN"
    resp = api(s, "DELETE", f"/api/users/{me['id']}")
    assert resp.status_code == 400 and resp.json()["error"] == "ERR_USER_SELF"
    other = api(
        s, "POST", "/api/users", json={"username": "a2", "password": "a2-password", "role": "admin"}
    ).json()
    a2 = token_of(s, "a2", "a2-password")
    assert api(s, "PATCH", f"/api/users/{me['id']}", a2, json={"role": "viewer"}).status_code == 200
    resp = api(s, "DELETE", f"/api/users/{other['id']}", a2)
    assert resp.status_code == 400 and resp.json()["error"] == "ERR_USER_SELF"
    resp = api(s, "PATCH", f"/api/users/{other['id']}", a2, json={"disabled": True})
    assert resp.status_code == 409 and resp.json()["error"] == "ERR_LAST_ADMIN"
    missing = api(s, "PATCH", "/api/users/nope", a2, json={"disabled": True})
    assert missing.status_code == 404 and missing.json()["error"] == "ERR_USER_NOT_FOUND"


def test_own_password(live_server: LiveServer) -> None:
    s = live_server
    client = login(s, "admin", ADMIN_PASSWORD)
    wrong = client.post(
        "/api/me/password", json={"current": "nope-nope", "new": "x" * 12}, headers=_same_origin(s)
    )
    assert wrong.status_code == 403 and wrong.json()["error"] == "ERR_PASSWORD_WRONG"
    ok = client.post(
        "/api/me/password",
        json={"current": ADMIN_PASSWORD, "new": "new-admin-pw"},
        headers=_same_origin(s),
    )
    assert ok.status_code == 204
    assert client.get("/api/me").json()["username"] == "admin"  # this session stays
    login(s, "admin", "new-admin-pw")


def test_lockout_over_http(live_server: LiveServer) -> None:
    s = live_server
    for _ in range(5):
        resp = httpx.post(f"{s.url}/login", data={"username": "admin", "password": "wrong-pw"})
        assert resp.status_code == 401
    resp = httpx.post(f"{s.url}/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) == 60
    assert "locked" in resp.text
    # The bearer token still works: the lock is on passwords only.
    assert api(s, "GET", "/api/me").status_code == 200


def test_csrf_on_cookie_writes(live_server: LiveServer) -> None:
    s = live_server
    client = login(s, "admin", ADMIN_PASSWORD)
    body = {"name": "from-browser"}
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
        {},
    ):
        resp = client.post("/api/tokens", json=body, headers=headers)
        assert resp.status_code == 403, headers
        assert resp.json()["error"] == "ERR_CSRF"
    assert client.post("/api/tokens", json=body, headers=_same_origin(s)).status_code == 201
    referer = {"Referer": f"{s.url}/scan"}
    assert client.post("/api/tokens", json=body, headers=referer).status_code == 201
    # Reads need no Origin; bearer tokens are exempt.
    assert client.get("/api/tokens").status_code == 200
    foreign = {**s.headers, "Origin": "http://evil.example"}
    resp = httpx.post(f"{s.url}/api/tokens", json=body, headers=foreign)
    assert resp.status_code == 201
    # The login form: refused from another site, fine from this one or from a script.
    form = {"username": "admin", "password": ADMIN_PASSWORD}
    resp = httpx.post(f"{s.url}/login", data=form, headers={"Origin": "http://evil.example"})
    assert resp.status_code == 403 and resp.json()["error"] == "ERR_CSRF"
    assert httpx.post(f"{s.url}/login", data=form, headers=_same_origin(s)).status_code == 303
    # Logout with the cookie from another site is refused; from this one it works.
    assert client.post("/logout", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/logout", headers=_same_origin(s)).status_code == 303
    assert client.get("/api/me").status_code == 401
