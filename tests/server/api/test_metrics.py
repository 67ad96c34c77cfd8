"""``GET /metrics``: real values after ingest, the per-thing bound, auth, and the dashboard."""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hashfleet import __version__
from hashfleet.core.clock import now_ms
from hashfleet.core.settings import Settings
from hashfleet.server.api.metrics import FAMILIES, FleetCollector
from tests.server.api.test_rpc import call
from tests.support.live_server import LiveServer

DASHBOARD = Path(__file__).parents[3] / "docs" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\bhashfleet_[a-zA-Z0-9_]+")


def register(server: LiveServer) -> None:
    """rack-a: four miners; rack-b: one miner and one container."""
    for rack in ("rack-a", "rack-b"):
        assert call(server, "registerRack", {"id": rack, "type": "miner"}).json() == 1
    things = [("rack-a", f"m{i}", "antminer", f"127.0.1.{i + 1}") for i in range(4)]
    things += [
        ("rack-b", "x0", "antminer", "127.0.2.1"),
        ("rack-b", "c0", "container", "127.0.2.2"),
    ]
    for rack, thing_id, family, address in things:
        body = {"rack": rack, "id": thing_id, "opts": {"family": family, "address": address}}
        if family == "container":
            body["type"] = "container"
        resp = call(server, "registerThing", body)
        assert resp.json() == 1, resp.text


def ingest(server: LiveServer, rack: str, items: list[dict[str, Any]]) -> None:
    """Post ``items`` with ``rack``'s token, as its agent would."""
    token = httpx.post(f"{server.url}/api/racks/{rack}/token", headers=server.headers)
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    for seq, item in enumerate(items, start=1):
        item["seq"] = seq
    resp = httpx.post(
        f"{server.url}/api/agent/ingest",
        json={"spool_id": f"metrics-{rack}", "items": items},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text


def miner(hashrate: float, power: float | None, **stats: Any) -> dict[str, Any]:
    body = {"status": "online", "hashrate": hashrate, "algorithm": "sha256", "coin": "btc"}
    return {"stats": {**body, "power_w": power, **stats}}


def populate(server: LiveServer) -> None:
    """Known snapshots: m0, m1 online; m2 failed its poll; m3 never reported."""
    register(server)
    ts = now_ms() - 1000
    boards = [{"index": 0, "temp_chip": 70}, {"index": 1, "temp_chip": 75}]
    ingest(server, "rack-a", [
        {"thing_id": "m0", "ts": ts, "snap": miner(100e12, 3000, hashboards=boards)},
        {"thing_id": "m1", "ts": ts, "snap": miner(50e12, 1500, temp_max=120)},
        {"thing_id": "m2", "ts": ts, "err": "ERR_DEVICE_TIMEOUT"},
    ])  # fmt: skip
    ingest(server, "rack-b", [
        {"thing_id": "x0", "ts": ts, "snap": miner(10e12, None)},
        {"thing_id": "c0", "ts": ts, "snap": {"stats": {"status": "online", "power_w": 500}}},
    ])  # fmt: skip


def scrape(server: LiveServer, headers: dict[str, str] | None = None) -> list[Sample]:
    resp = httpx.get(
        f"{server.url}/metrics", headers=server.headers if headers is None else headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [s for family in text_string_to_metric_families(resp.text) for s in family.samples]


def values(samples: list[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of ``name`` by their sorted label pairs."""
    return {tuple(sorted(s.labels.items())): s.value for s in samples if s.name == name}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    [found] = [s.value for s in samples if s.name == name and s.labels == labels]
    return found


def thing_ids(samples: list[Sample], name: str) -> list[str]:
    return sorted(s.labels["thing_id"] for s in samples if s.name == name)


def test_fleet_and_thing_values_after_ingest(live_server: LiveServer) -> None:
    populate(live_server)
    s = scrape(live_server)
    instance = call(live_server, "getInstanceId", {}).json()
    assert value(s, "hashfleet_build_info", version=__version__, instance_id=instance) == 1

    a = {"type": "miner", "rack": "rack-a"}
    b = {"type": "miner", "rack": "rack-b"}
    box = {"type": "container", "rack": "rack-b"}
    assert value(s, "hashfleet_things_registered", **a) == 4
    assert value(s, "hashfleet_things_registered", **b) == 1
    assert value(s, "hashfleet_things_registered", **box) == 1
    statuses = ("online", "offline", "error", "sleeping")
    by_status = {st: value(s, "hashfleet_things", **a, status=st) for st in statuses}
    assert by_status == {"online": 2, "offline": 1, "error": 1, "sleeping": 0}
    assert value(s, "hashfleet_things", **box, status="online") == 1

    rate = "hashfleet_hashrate_hashes_per_second"
    assert value(s, rate, **a, algorithm="sha256", coin="btc") == 150e12
    assert value(s, rate, **b, algorithm="sha256", coin="btc") == 10e12
    assert not [x for x in s if x.name == rate and x.labels["type"] == "container"]
    assert value(s, "hashfleet_power_watts", **a) == 4500
    assert value(s, "hashfleet_power_watts", **b) == 0
    assert value(s, "hashfleet_power_watts", **box) == 500
    # 4500 W over 150 TH/s; x0 reports no power, so rack-b has no efficiency.
    eff = values(s, "hashfleet_efficiency_joules_per_terahash")
    assert eff == {(("algorithm", "sha256"), ("rack", "rack-a"), ("type", "miner")): 30.0}

    # m1 runs hot and m2's poll failed: whatever the rules' thresholds, the metrics count
    # exactly the open alerts the API lists, each under its thing's type and rack.
    listed = httpx.get(f"{live_server.url}/api/alerts", headers=live_server.headers).json()
    assert {x["thing_id"] for x in listed["alerts"]} == {"m1", "m2"}
    want = Counter(x["severity"] for x in listed["alerts"])
    for severity in ("critical", "high", "medium", "low"):
        assert value(s, "hashfleet_alerts_open", **a, severity=severity) == want[severity]
        assert value(s, "hashfleet_alerts_open", **b, severity=severity) == 0
    assert value(s, "hashfleet_ingest_snapshots_stored_total") == 5
    assert value(s, "hashfleet_alerts_flush_failures_total") == 0
    assert value(s, "hashfleet_metrics_things_truncated") == 0

    m0 = {"thing_id": "m0", **a}
    assert value(s, "hashfleet_thing_online", **m0) == 1
    assert value(s, "hashfleet_thing_hashrate_hashes_per_second", **m0, algorithm="sha256") == 1e14
    assert value(s, "hashfleet_thing_power_watts", **m0) == 3000
    assert value(s, "hashfleet_thing_chip_temperature_celsius", **m0) == 75  # hottest board
    m1 = {"thing_id": "m1", **a}
    assert value(s, "hashfleet_thing_chip_temperature_celsius", **m1) == 120  # temp_max fallback
    assert value(s, "hashfleet_thing_online", thing_id="m2", **a) == 0
    assert value(s, "hashfleet_thing_online", thing_id="m3", **a) == 0
    assert thing_ids(s, "hashfleet_thing_online") == ["c0", "m0", "m1", "m2", "m3", "x0"]
    # Only online things report a temperature; things that report no power have none.
    assert thing_ids(s, "hashfleet_thing_chip_temperature_celsius") == ["m0", "m1"]
    assert thing_ids(s, "hashfleet_thing_power_watts") == ["c0", "m0", "m1"]

    # Every family the module lists is exposed, and nothing else.
    resp = httpx.get(f"{live_server.url}/metrics", headers=live_server.headers)
    families = {f.name for f in text_string_to_metric_families(resp.text)}
    assert families == set(FAMILIES)


def test_alerts_of_a_forgotten_thing_are_not_lost(live_server: LiveServer) -> None:
    populate(live_server)
    assert call(live_server, "forgetThings", {"ids": ["m2"]}).json() == 1
    state = live_server.state
    assert state is not None

    async def collect_now() -> tuple[list[Sample], dict[str, int], int]:
        # One step on the server's loop, so the alert engine cannot change in between.
        families = list(FleetCollector(state).collect())
        samples = [x for f in families for x in f.samples if f.name == "hashfleet_alerts_open"]
        return samples, state.alerts.counts_by_severity(), len(state.alerts.active("m2"))

    samples, counts, m2_open = live_server.call(collect_now())
    for severity, n in counts.items():
        assert sum(x.value for x in samples if x.labels["severity"] == severity) == n
    orphans = sum(x.value for x in samples if x.labels["type"] == "" and x.labels["rack"] == "")
    assert orphans == m2_open  # until the timed check closes it


def test_stale_thing_drops_to_zero(live_server: LiveServer) -> None:
    register(live_server)
    old = now_ms() - 10 * 60_000  # older than the 60 s stale window
    ingest(live_server, "rack-a", [{"thing_id": "m0", "ts": old, "snap": miner(100e12, 3000)}])
    a = {"type": "miner", "rack": "rack-a"}
    deadline = time.monotonic() + 5
    # The stale sweep runs once a second.
    while value(s := scrape(live_server), "hashfleet_things", **a, status="offline") < 4:
        assert time.monotonic() < deadline, "m0 never turned offline"
        time.sleep(0.1)
    rate = "hashfleet_hashrate_hashes_per_second"
    assert value(s, rate, **a, algorithm="sha256", coin="btc") == 0
    assert value(s, "hashfleet_thing_power_watts", thing_id="m0", **a) == 0
    assert thing_ids(s, "hashfleet_thing_chip_temperature_celsius") == []


def test_per_thing_series_are_bounded(live_server: LiveServer) -> None:
    populate(live_server)
    assert live_server.state is not None
    live_server.state.settings.metrics_max_things = 2
    s = scrape(live_server)
    assert value(s, "hashfleet_metrics_things_truncated") == 4
    assert thing_ids(s, "hashfleet_thing_online") == ["c0", "m0"]  # lowest ids
    assert thing_ids(s, "hashfleet_thing_hashrate_hashes_per_second") == ["m0"]
    # Fleet totals still count every thing.
    assert sum(values(s, "hashfleet_things_registered").values()) == 6

    live_server.state.settings.metrics_max_things = 0
    s = scrape(live_server)
    assert value(s, "hashfleet_metrics_things_truncated") == 6
    assert not [x for x in s if x.name.startswith("hashfleet_thing_")]


def test_auth(live_server: LiveServer) -> None:
    register(live_server)
    url = f"{live_server.url}/metrics"
    for headers in (
        {},
        {"Authorization": "Bearer hfa_not-a-token"},
        {"Authorization": "Basic eDp5"},
    ):
        resp = httpx.get(url, headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"] == "ERR_AUTH_REQUIRED"
    token = httpx.post(f"{live_server.url}/api/racks/rack-a/token", headers=live_server.headers)
    assert scrape(live_server, {"Authorization": f"Bearer {token.json()['token']}"})
    assert live_server.state is not None
    uid = live_server.call(live_server.state.auth.ensure_admin("viewer", "another-horse-battery"))
    read_only = live_server.call(live_server.state.auth.create_api_token(uid, "prom", False))
    assert scrape(live_server, {"Authorization": f"Bearer {read_only}"})


def test_metrics_public(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "server", throttle_s=0.2, metrics_public=True).start()
    try:
        samples = scrape(server, headers={})
        assert value(samples, "hashfleet_ingest_snapshots_stored_total") == 0
    finally:
        server.stop()


def test_ingest_queue_and_notification_outcomes(tmp_path: Path) -> None:
    # A webhook nobody listens on: the alert's notification fails, and /metrics says so.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    config = tmp_path / "history.json"
    hook = {"type": "webhook", "name": "ops", "url": f"http://127.0.0.1:{dead_port}/hook",
            "min_severity": "low", "retries": 0, "timeout_s": 2}  # fmt: skip
    config.write_text(json.dumps({"notifiers": [hook]}))
    server = LiveServer(tmp_path / "server", throttle_s=0.2, history_config=str(config)).start()
    try:
        samples = scrape(server)
        assert value(samples, "hashfleet_ingest_batches_pending") == 0
        ops = {"notifier": "ops", "kind": "webhook"}
        assert value(samples, "hashfleet_notifications_total", **ops, outcome="failed") == 0
        assert value(samples, "hashfleet_notifications_queued", **ops) == 0
        register(server)
        hot = miner(100e12, 3000, hashboards=[{"index": 0, "temp_chip": 99.0}])
        ingest(server, "rack-a", [{"thing_id": "m0", "ts": now_ms(), "snap": hot}])
        deadline = time.monotonic() + 10
        while value(s := scrape(server), "hashfleet_notifications_total", **ops,
                    outcome="failed") < 1:  # fmt: skip
            assert time.monotonic() < deadline, "the failed delivery was never counted"
            time.sleep(0.1)
        assert value(s, "hashfleet_notifications_total", **ops, outcome="sent") == 0
    finally:
        server.stop()


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().metrics_max_things, Settings().metrics_public) == (1000, False)
    monkeypatch.setenv("HASHFLEET_METRICS_MAX_THINGS", "7")
    monkeypatch.setenv("HASHFLEET_METRICS_PUBLIC", "true")
    settings = Settings.from_env()
    assert (settings.metrics_max_things, settings.metrics_public) == (7, True)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those folded into rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_grafana_dashboard_uses_exposed_metrics(live_server: LiveServer) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"type", "rack"} <= set(variables)

    populate(live_server)
    exposed = {s.name for s in scrape(live_server)}
    exprs = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in variables.values() if v["type"] == "query"]
    assert exprs
    for expr in exprs:
        names = set(METRIC_NAME.findall(expr))
        assert names, expr
        assert names <= exposed, f"{expr!r} uses {names - exposed}"

    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    titles = " ".join(p["title"].lower() for p in panels(dashboard))
    for word in ("hashrate", "power", "efficiency", "status", "alerts", "hottest", "ingest"):
        assert word in titles
