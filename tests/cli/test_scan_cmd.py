"""``hashfleet scan``: finds simulated miners, prints them, registers them once (127.89.2.x)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from hashfleet.cli import scan_cmd
from hashfleet.cli.main import app
from tests.support.live_server import LiveServer
from tests.support.sim_process import sim_process

runner = CliRunner()


@pytest.fixture
def sims() -> Iterator[list[str]]:
    """Two Antminers and one XMRig in a separate process, as on a real network."""
    args = ["--antminer", "2", "--xmrig", "1", "--ip-base", "127.89.2.1"]
    with sim_process(args, 3) as devices:
        yield [address for _, address, _ in devices]


def test_scan_prints_a_table_of_what_it_found(
    sims: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_cmd, "console", Console(width=160))
    result = runner.invoke(app, ["scan", "127.89.2.1-6", "--timeout", "1"])
    assert result.exit_code == 0, result.output
    assert "3 devices in 6 addresses" in result.output
    for needle in ("127.89.2.1", "127.89.2.3", "antminer", "xmrig", "S19"):
        assert needle in result.output


def test_scan_registers_into_a_rack_and_skips_known_addresses(
    sims: list[str], live_server: LiveServer, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    httpx.post(f"{live_server.url}/rpc/registerRack", json={"id": "r1", "type": "miner"},
               headers=headers, timeout=10).raise_for_status()  # fmt: skip
    args = ["scan", "127.89.2.1-4", "--json", "--register", "r1", "--url", live_server.url,
            "--token", live_server.admin_token, "--data-dir", str(tmp_path)]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    found = json.loads(first.output[: first.output.rindex("]") + 1])
    assert [(f["address"], f["family"]) for f in found] == [
        ("127.89.2.1", "antminer"), ("127.89.2.2", "antminer"), ("127.89.2.3", "xmrig")
    ]  # fmt: skip
    assert "registered 3" in first.output
    again = runner.invoke(app, args)
    assert "registered 0" in again.output and "3 already known" in again.output
    things = httpx.post(f"{live_server.url}/rpc/listThings", json={"query": {"rack": "r1"}},
                        headers=headers, timeout=10).json()  # fmt: skip
    assert sorted(t["opts"]["address"] for t in things) == sims
    assert {t["opts"]["family"] for t in things} == {"antminer", "xmrig"}


def test_scan_refuses_a_range_too_large() -> None:
    result = runner.invoke(app, ["scan", "10.0.0.0/8"])
    assert result.exit_code != 0
    assert "more than" in result.output
