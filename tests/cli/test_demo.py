"""``hashfleet demo --miners N --port P --data-dir D`` honours its options and restarts cleanly."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from tests.support.demo_process import DemoProcess
from tests.support.live_server import free_port


def test_demo_honours_options_and_restarts_without_duplicates(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "d"
    demo = DemoProcess(data_dir, port, miners=10).start()
    try:
        info = json.loads((data_dir / "demo.json").read_text())
        # Credentials and the database are the operator's alone.
        assert stat.S_IMODE((data_dir / "demo.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert set(info) >= {"url", "password", "token"}
        assert info["url"] == f"http://127.0.0.1:{port}"
        assert info["password"] in demo.output()
        assert info["url"] in demo.output()
        things = demo.rpc("listThings", {"limit": 1000})
        families = sorted(t["opts"]["family"] for t in things)
        assert families == ["antminer"] * 8 + ["xmrig"] * 2
        # Snapshots flow: every thing reports online within a few polls.
        demo.wait_for(
            lambda: (
                demo.rpc(
                    "listThings",
                    {
                        "query": {"last.snap.stats.status": "online"},
                        "fields": {"id": 1},
                        "limit": 1000,
                    },
                ).__len__()
                == 10
            ),
            timeout=45,
            what="10 things online",
        )
        # The dashboard's password works.
        with httpx.Client(base_url=info["url"]) as client:
            resp = client.post("/login", data={"username": "admin", "password": info["password"]})
            assert resp.status_code == 303
    finally:
        assert demo.stop() == 0, demo.output()
    again = DemoProcess(data_dir, port, miners=10).start()
    try:
        assert len(again.rpc("listThings", {"limit": 1000})) == 10
        assert again.info["password"] != info["password"]
    finally:
        assert again.stop() == 0, again.output()
