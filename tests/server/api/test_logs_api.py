"""Comments and historical logs over HTTP: authors, the change log, closed alerts, codes."""

from __future__ import annotations

from typing import Any

import httpx

from hashfleet.core.clock import now_ms
from tests.server.api.test_rpc import call, setup_rack
from tests.support.live_server import LiveServer


def bearer(server: LiveServer, username: str, role: str, write: bool = True) -> dict[str, str]:
    """Headers of a new user's API token."""
    state = server.state
    assert state is not None
    uid = server.call(state.auth.create_user(username, f"{username}-password", role))
    token = server.call(state.auth.create_api_token(uid, "tests", write))
    return {"Authorization": f"Bearer {token}"}


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    code: str = resp.json()["error"]
    return code


def comments(server: LiveServer, thing_id: str, **extra: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = ok(call(server, "getThingComments", {"thingId": thing_id, **extra}))
    return out


def test_comment_authors(live_server: LiveServer) -> None:
    setup_rack(live_server, 2)
    ann = bearer(live_server, "ann", "operator")
    bob = bearer(live_server, "bob", "operator")
    viewer = bearer(live_server, "vic", "viewer")

    # The author is whoever calls; a "user" in the body cannot speak for someone else.
    body = {"rackId": "rack-a", "thingId": "m0", "comment": "  replaced heat sink ", "user": "bob"}
    assert ok(call(live_server, "saveThingComment", body, ann)) == 1
    assert ok(call(live_server, "saveThingComment", {"thingId": "m0", "comment": "hot"}, bob)) == 1
    newest, oldest = comments(live_server, "m0")
    assert (newest["user"], newest["comment"]) == ("bob", "hot")
    assert (oldest["user"], oldest["comment"], oldest["thingId"]) == (
        "ann",
        "replaced heat sink",
        "m0",
    )
    assert oldest["createdAt"] == oldest["updatedAt"]
    assert comments(live_server, "m0", offset=1, limit=1) == [oldest]
    assert comments(live_server, "m1") == []
    # Viewers read comments but do not write them.
    assert [
        c["id"] for c in ok(call(live_server, "getThingComments", {"thingId": "m0"}, viewer))
    ] == [
        newest["id"],
        oldest["id"],
    ]
    no_write = call(live_server, "saveThingComment", {"thingId": "m0", "comment": "x"}, viewer)
    assert error(no_write, 403) == "ERR_MISSING_WRITE_PERMISSIONS"

    ann_id = {"thingId": "m0", "commentId": oldest["id"]}
    # Only the author edits; the author or an admin deletes.
    edit = {**ann_id, "comment": "replaced heat sink and fan"}
    assert error(call(live_server, "editThingComment", edit, bob), 403) == "ERR_COMMENT_FORBIDDEN"
    assert error(call(live_server, "deleteThingComment", ann_id, bob), 403) == (
        "ERR_COMMENT_FORBIDDEN"
    )
    assert ok(call(live_server, "editThingComment", edit, ann)) == 1
    edited = comments(live_server, "m0")[1]
    assert (edited["id"], edited["comment"]) == (oldest["id"], "replaced heat sink and fan")
    assert edited["updatedAt"] >= edited["createdAt"] == oldest["createdAt"]
    admin_edit = call(live_server, "editThingComment", {**edit, "comment": "mine now"})
    assert error(admin_edit, 403) == "ERR_COMMENT_FORBIDDEN"
    assert ok(call(live_server, "deleteThingComment", ann_id)) == 1  # the admin
    bob_id = {"thingId": "m0", "commentId": newest["id"]}
    assert ok(call(live_server, "deleteThingComment", bob_id, bob)) == 1
    assert comments(live_server, "m0") == []
    gone = call(live_server, "deleteThingComment", bob_id, bob)
    assert error(gone, 404) == "ERR_COMMENT_NOTFOUND"


def test_comment_errors(live_server: LiveServer) -> None:
    setup_rack(live_server, 1)

    def save(body: dict[str, Any]) -> httpx.Response:
        return call(live_server, "saveThingComment", body)

    assert error(save({"thingId": "nope", "comment": "x"}), 404) == "ERR_THING_NOTFOUND"
    assert error(save({"thingId": "m0", "rackId": "rack-b", "comment": "x"}), 404) == (
        "ERR_THING_NOTFOUND"
    )
    for bad in ("", "   ", "x" * 4001, 12, None):
        assert error(save({"thingId": "m0", "comment": bad}), 400) == "ERR_COMMENT_INVALID"
    assert ok(save({"thingId": "m0", "comment": "x" * 4000})) == 1
    assert error(save({"comment": "x"}), 400) == "ERR_THING_ID_INVALID"
    [saved] = comments(live_server, "m0")
    missing = {"thingId": "m0", "commentId": "no-such-comment", "comment": "y"}
    assert error(call(live_server, "editThingComment", missing), 404) == "ERR_COMMENT_NOTFOUND"
    assert error(call(live_server, "deleteThingComment", missing), 404) == "ERR_COMMENT_NOTFOUND"
    # A comment is only found under its own thing.
    other = {"thingId": "m9", "commentId": saved["id"], "comment": "y"}
    assert error(call(live_server, "editThingComment", other), 404) == "ERR_COMMENT_NOTFOUND"
    empty = {"thingId": "m0", "commentId": saved["id"], "comment": ""}
    assert error(call(live_server, "editThingComment", empty), 400) == "ERR_COMMENT_INVALID"
    no_id = {"thingId": "m0", "comment": "y"}
    assert error(call(live_server, "editThingComment", no_id), 400) == "ERR_COMMENT_ID_INVALID"
    anonymous = httpx.post(f"{live_server.url}/rpc/getThingComments", json={"thingId": "m0"})
    assert anonymous.status_code == 401


def logs(server: LiveServer, **body: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = ok(call(server, "getHistoricalLogs", body))
    return out


def test_change_log(live_server: LiveServer) -> None:
    setup_rack(live_server, 2)  # as the admin: info {"pos": i}, tags row-<i % 2>
    ann = bearer(live_server, "ann", "operator")
    update = {
        "id": "m0",
        "info": {"pos": 7, "room": "B"},
        "opts": {"password": "hunter2"},
        "tags": ["hot"],
        "comment": "moved to room B",
    }
    assert ok(call(live_server, "updateThing", update, ann)) == 1
    # The same update again changes nothing and logs nothing.
    assert ok(call(live_server, "updateThing", update, ann)) == 1
    assert ok(call(live_server, "forgetThings", {"ids": ["m1"]})) == 1

    [changed, registered] = logs(live_server, logType="info", thingId="m0")
    assert registered["action"] == "register" and registered["user"] == "admin"
    assert registered["diff"]["info.pos"] == [None, 0]
    assert (changed["action"], changed["user"], changed["thingId"]) == ("update", "ann", "m0")
    assert changed["comment"] == "moved to room B"
    assert changed["diff"] == {
        "info.pos": [0, 7],
        "info.room": [None, "B"],
        "opts.password": [None, "***"],  # set, but never shown
        "tags": {"added": ["hot"], "removed": []},
    }
    assert changed["ts"] >= registered["ts"]

    every = logs(live_server, logType="info")
    assert [(e["thingId"], e["action"]) for e in every] == [
        ("m1", "forget"),
        ("m0", "update"),
        ("m1", "register"),
        ("m0", "register"),
    ]
    forgot = every[0]
    assert forgot["diff"]["info.pos"] == [1, None] and "row-1" in forgot["diff"]["tags"]["removed"]
    oldest = logs(live_server, logType="info", sort={"ts": 1}, limit=2)
    assert [(e["thingId"], e["action"]) for e in oldest] == [("m0", "register"), ("m1", "register")]
    page = logs(live_server, logType="info", thingIds=["m1", "m0"], offset=1, limit=2)
    assert page == every[1:3]
    assert logs(live_server, logType="info", start=changed["ts"], thingId="m0") == [changed]
    assert logs(live_server, logType="info", end=registered["ts"] - 1) == []
    # History outlives the thing; viewers may read it.
    viewer = bearer(live_server, "vic", "viewer")
    body = {"logType": "info", "thingId": "m1"}
    assert len(ok(call(live_server, "getHistoricalLogs", body, viewer))) == 2


class Agent:
    """Posts snapshots as the agent of rack-a would."""

    def __init__(self, server: LiveServer) -> None:
        resp = httpx.post(f"{server.url}/api/racks/rack-a/token", headers=server.headers)
        self.headers = {"Authorization": f"Bearer {resp.json()['token']}"}
        self.url = server.url
        self.seq = 0

    def send(self, thing_id: str, ts: int, chip: float) -> None:
        self.seq += 1
        snap = {
            "stats": {
                "status": "online",
                "hashrate": 100e12,
                "hashboards": [{"index": 0, "temp_chip": chip, "temp_board": 60, "ok": True}],
            }
        }
        item = {"seq": self.seq, "thing_id": thing_id, "ts": ts, "snap": snap}
        body = {"spool_id": "history-test", "items": [item]}
        resp = httpx.post(f"{self.url}/api/agent/ingest", json=body, headers=self.headers)
        assert resp.status_code == 200, resp.text


def test_alert_log(live_server: LiveServer) -> None:
    setup_rack(live_server, 2)
    agent = Agent(live_server)
    t0 = now_ms() - 60_000
    agent.send("m0", t0, chip=97)  # opens a temperature alert
    agent.send("m1", t0 + 1000, chip=97)
    assert logs(live_server, logType="alerts") == []  # open alerts are not history yet
    agent.send("m0", t0 + 2000, chip=70)  # closes m0's
    agent.send("m1", t0 + 3000, chip=70)
    closed = logs(live_server, logType="alerts")
    assert [(a["thing_id"], a["created_at"]) for a in closed] == [("m1", t0 + 1000), ("m0", t0)]
    assert closed[1]["closed_at"] == t0 + 2000 and closed[1]["code"] == "temp_chip"
    assert logs(live_server, logType="alerts", sort={"ts": 1}) == closed[::-1]
    assert logs(live_server, logType="alerts", sort={"ts": 1}, offset=1) == closed[:1]
    assert logs(live_server, logType="alerts", sort={"ts": 1}, offset=2) == []
    assert logs(live_server, logType="alerts", thingId="m0") == closed[1:]
    assert logs(live_server, logType="alerts", start=t0 + 1, end=t0 + 5000) == closed[:1]
    assert logs(live_server, logType="alerts", limit=1, offset=1) == closed[1:]


def test_log_errors(live_server: LiveServer) -> None:
    def code(**body: Any) -> str:
        return error(call(live_server, "getHistoricalLogs", body), 400)

    assert code() == "ERR_LOG_TYPE_INVALID"
    assert code(logType="error") == "ERR_LOG_TYPE_INVALID"
    assert code(logType=["info"]) == "ERR_LOG_TYPE_INVALID"
    assert code(logType="info", start="yesterday") == "ERR_START_DATE_INVALID"
    assert code(logType="info", start=-1) == "ERR_START_DATE_INVALID"
    assert code(logType="alerts", end=1.5) == "ERR_END_DATE_INVALID"
    assert code(logType="info", start=10, end=5) == "ERR_END_DATE_INVALID"
    for limit in (0, 1001, "10", True):
        assert code(logType="info", limit=limit) == "ERR_LIMIT_INVALID"
    assert code(logType="info", offset=-1) == "ERR_LIMIT_INVALID"
    assert code(logType="info", sort={"ts": 0}) == "ERR_SORT_INVALID"
    assert code(logType="info", sort={"created": 1}) == "ERR_SORT_INVALID"
    assert code(logType="info", thingIds="m0") == "ERR_THING_ID_INVALID"
    assert code(logType="info", thingId=3) == "ERR_THING_ID_INVALID"
    assert code(logType="info", query={"thingId": "m0"}) == "ERR_QUERY_INVALID"
    assert logs(live_server, logType="info", limit=1000) == []
