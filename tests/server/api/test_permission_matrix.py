"""Every route and RPC method against every kind of caller.

The routes are enumerated from the app itself (its OpenAPI schema plus the dashboard's form
posts), and each must be classified below: a new route that is not fails this test until
someone decides who may call it. Then:

- an anonymous caller is refused everything (401 ``ERR_AUTH_REQUIRED``);
- read-only callers (a viewer, an admin's read-only token) are refused every write (403
  ``ERR_MISSING_WRITE_PERMISSIONS`` or ``ERR_ACTION_DENIED``) and every admin route, and
  are not refused reads;
- an agent's rack token is refused everything but the agent routes (and /metrics).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.live_server import LiveServer

# Reads: any logged-in person. (RPC reads are POSTs, as in the seeds.)
READS = {
    "POST /rpc/ping",
    "POST /rpc/getInstanceId",
    "POST /rpc/listThings",
    "POST /rpc/listRacks",
    "POST /rpc/tailLog",
    "POST /rpc/tailLogMulti",
    "POST /rpc/tailLogCustomRangeAggr",
    "POST /rpc/getThingComments",
    "POST /rpc/getHistoricalLogs",
    "GET /api/history/timezones",
    "GET /api/aggregates",
    "GET /api/fleet",
    "GET /api/things/{thing_id}",
    "GET /api/things/{thing_id}/history",
    "GET /api/alerts",
    "POST /rpc/getAction",
    "POST /rpc/getActionsBatch",
    "POST /rpc/queryActions",
    "POST /rpc/getGlobalConfig",
    "POST /rpc/getWrkConf",
    "POST /rpc/getThingConf",
    "POST /rpc/getWrkSettings",
    "GET /api/capabilities",
    "GET /api/me",
    "GET /api/tokens",
}
# Writes: operators and admins (or a custom role with write permissions).
WRITES = {
    "POST /rpc/registerThing",
    "POST /rpc/updateThing",
    "POST /rpc/forgetThings",
    "POST /rpc/registerRack",
    "POST /rpc/forgetRacks",
    "POST /rpc/saveThingComment",
    "POST /rpc/editThingComment",
    "POST /rpc/deleteThingComment",
    "POST /api/racks/{rack_id}/token",
    "POST /api/scan",
    "POST /rpc/pushAction",
    "POST /rpc/pushActionsBatch",
    "POST /rpc/voteAction",
    "POST /rpc/cancelActionsBatch",
    "POST /rpc/saveWrkSettings",
    "POST /rpc/queryThing",
    "POST /rpc/applyThings",
}
# Administrators only.
ADMIN = {
    "GET /api/audit",
    "POST /rpc/setGlobalConfig",
    "GET /api/users",
    "POST /api/users",
    "PATCH /api/users/{user_id}",
    "DELETE /api/users/{user_id}",
    "GET /api/roles",
    "POST /api/roles",
    "PUT /api/roles/{name}",
    "DELETE /api/roles/{name}",
}
# One's own account (tokens, password): any person, but not with a read-only token.
OWN = {"POST /api/tokens", "DELETE /api/tokens/{token_id}", "POST /api/me/password"}
# Agents (rack tokens) only.
AGENT = {
    "GET /api/agent/config",
    "POST /api/agent/ingest",
    "GET /api/agent/jobs",
    "POST /api/agent/jobs/results",
}
# Any valid token, people's or agents' (Prometheus may scrape with either).
ANY_TOKEN = {"GET /metrics"}
# The dashboard's form posts (not in the OpenAPI schema): open to anonymous callers.
PUBLIC = {"POST /login", "POST /logout"}

WRITE_REFUSALS = {"ERR_MISSING_WRITE_PERMISSIONS", "ERR_ACTION_DENIED"}


def routes(server: LiveServer) -> set[str]:
    """Every (method, path) the server serves, from its own schema."""
    schema = httpx.get(f"{server.url}/openapi.json", headers=server.headers).json()
    found = {
        f"{method.upper()} {path}"
        for path, ops in schema["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    return found | PUBLIC


def request(server: LiveServer, route: str, headers: dict[str, str]) -> httpx.Response:
    method, path = route.split(" ", 1)
    url = server.url + re.sub(r"\{[^}]+\}", "x", path)
    body: Any = {} if method in ("POST", "PUT", "PATCH") else None
    return httpx.request(method, url, json=body, headers=headers, timeout=10)


@pytest.fixture
def callers(live_server: LiveServer) -> dict[str, dict[str, str]]:
    state = live_server.state
    assert state is not None
    viewer = live_server.call(state.auth.create_user("vera", "vera-password", "viewer"))
    admin = live_server.call(state.auth.create_user("ro-admin", "ro-admin-password", "admin"))
    live_server.call(state.registry.register_rack("rack-m", "miner", {}))

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return {
        "viewer": bearer(live_server.call(state.auth.create_api_token(viewer, "v", True))),
        "read-only admin token": bearer(
            live_server.call(state.auth.create_api_token(admin, "ro", False))
        ),
        "agent": bearer(live_server.call(state.auth.create_rack_token("rack-m"))),
    }


def test_every_route_is_classified(live_server: LiveServer) -> None:
    known = READS | WRITES | ADMIN | AGENT | ANY_TOKEN | PUBLIC | OWN
    assert routes(live_server) - known == set(), "classify the new routes above"
    assert known - routes(live_server) == set(), "these routes are gone: drop them above"


def test_anonymous_callers_are_refused_everything(live_server: LiveServer) -> None:
    for route in sorted(routes(live_server) - PUBLIC):
        resp = request(live_server, route, {})
        assert resp.status_code == 401, (route, resp.status_code, resp.text)
        assert resp.json()["error"] == "ERR_AUTH_REQUIRED", route


def test_read_only_callers_cannot_write(
    live_server: LiveServer, callers: dict[str, dict[str, str]]
) -> None:
    for who in ("viewer", "read-only admin token"):
        for route in sorted(WRITES | ADMIN | AGENT):
            resp = request(live_server, route, callers[who])
            assert resp.status_code == 403, (who, route, resp.status_code, resp.text)
            assert resp.json()["error"] in WRITE_REFUSALS, (who, route, resp.text)
        for route in sorted(READS | ANY_TOKEN):
            resp = request(live_server, route, callers[who])
            # A read may still refuse the empty body or the made-up id, never the caller.
            assert resp.status_code not in (401, 403), (who, route, resp.status_code, resp.text)
    for route in sorted(OWN):
        resp = request(live_server, route, callers["read-only admin token"])
        assert resp.status_code == 403 and resp.json()["error"] in WRITE_REFUSALS, route
        resp = request(live_server, route, callers["viewer"])
        assert resp.status_code not in (401, 403), (route, resp.status_code, resp.text)


def test_agents_only_reach_the_agent_routes(
    live_server: LiveServer, callers: dict[str, dict[str, str]]
) -> None:
    for route in sorted(READS | WRITES | ADMIN | OWN):
        resp = request(live_server, route, callers["agent"])
        assert resp.status_code == 403, (route, resp.status_code, resp.text)
        assert resp.json()["error"] == "ERR_ACTION_DENIED", route
    for route in sorted(AGENT | ANY_TOKEN):
        resp = request(live_server, route, callers["agent"])
        assert resp.status_code not in (401, 403), (route, resp.status_code, resp.text)
