"""The CLI: help texts, the rpc client, and the server's first-start admin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hashfleet.cli.main import app
from tests.support.live_server import LiveServer

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("server", "agent", "sim", "demo", "rpc", "scan"):
        assert command in result.output
    demo_help = runner.invoke(app, ["demo", "--help"])
    for option in ("--miners", "--port", "--data-dir"):
        assert option in demo_help.output


def test_rpc_calls_a_method_and_fails_on_an_error(live_server: LiveServer, tmp_path: Path) -> None:
    base = [
        "rpc",
        "--url",
        live_server.url,
        "--token",
        live_server.admin_token,
        "--data-dir",
        str(tmp_path),
    ]
    ok = runner.invoke(
        app, [*base[:1], "registerRack", *base[1:], "-d", '{"id": "r1", "type": "miner"}']
    )
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(app, [*base[:1], "listRacks", *base[1:]])
    assert json.loads(listed.output)[0]["id"] == "r1"
    bad = runner.invoke(app, [*base[:1], "listThings", *base[1:], "-d", '{"query": 5}'])
    assert bad.exit_code == 1
    assert "ERR_PAYLOAD_INVALID" in bad.output


def test_server_first_start_creates_the_admin(tmp_path: Path) -> None:
    # Start-up bootstrap only: run the command's helper without serving.
    code = (
        "import asyncio, sys; from pathlib import Path;"
        "from hashfleet.cli.server_cmd import _bootstrap_admin;"
        "from hashfleet.core.settings import Settings;"
        "from hashfleet.server.state import ServerState;"
        "s = ServerState(Settings.from_env(data_dir=Path(sys.argv[1])));"
        "asyncio.run(_bootstrap_admin(s))"
    )
    first = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    creds = json.loads((tmp_path / "initial-admin.json").read_text())
    assert creds["password"] in first.stdout
    assert (tmp_path / "initial-admin.json").stat().st_mode & 0o777 == 0o600
    second = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "Created user" not in second.stdout
