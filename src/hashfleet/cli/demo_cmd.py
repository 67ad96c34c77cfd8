"""``hashfleet demo``: a server, an agent and a simulated farm, from one command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn

from hashfleet.cli.sim_cmd import parse_mix
from hashfleet.core.files import make_private_dir, write_private
from hashfleet.core.settings import Settings
from hashfleet.drivers.registry import thing_type
from hashfleet.server.app import create_app
from hashfleet.server.auth.passwords import generate_password
from hashfleet.server.state import ServerState

RACK = "demo-rack"
_CODES = {"antminer": "AM", "xmrig": "XM", "whatsminer": "WM", "avalon": "AV"}
SIM_IP_BASE = "127.10.0.1"
CONTROL_HOST = "127.9.0.1"


def demo(
    miners: int = typer.Option(200, help="How many simulated miners (4 ASICs to 1 CPU rig)."),
    port: int = typer.Option(8000, help="Dashboard and API port on 127.0.0.1."),
    data_dir: Path = typer.Option(Path("./hashfleet-data"), help="Where everything is kept."),
    interval: float = typer.Option(5.0, help="Poll interval of the agent, in seconds."),
    device: list[str] = typer.Option(
        [],
        "--device",
        "-d",
        help="Also simulate FAMILY=COUNT devices of any family (repeatable), e.g. "
        "-d whatsminer=20 -d modbus_meter=2.",
    ),
) -> None:
    """Start the demo: prints the dashboard URL and the admin password, writes demo.json."""
    if miners < 0 or (miners == 0 and not device):
        raise typer.BadParameter("--miners must be at least 1 (or 0 with --device)")
    mix = parse_mix(device)
    settings = Settings.from_env(
        data_dir=data_dir, port=port, host="127.0.0.1", demo=True, poll_interval_s=interval
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, miners, mix))


def split_miners(miners: int) -> tuple[int, int]:
    """How many Antminers and XMRig rigs make ``miners``: four ASICs to one CPU rig."""
    xmrig = miners // 5
    return miners - xmrig, xmrig


async def _run(settings: Settings, miners: int, mix: dict[str, int]) -> None:
    # A demo.json from an earlier run holds a password that is about to change.
    (settings.data_dir / "demo.json").unlink(missing_ok=True)
    state = ServerState(settings)
    app = create_app(state=state)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
    )
    serve = asyncio.create_task(server.serve())
    while not server.started:
        if serve.done():
            await serve  # surfaces the start-up error (port taken…)
            return
        await asyncio.sleep(0.05)
    children: list[subprocess.Popen[bytes]] = []
    try:
        antminers, xmrigs = split_miners(miners)
        control_port = settings.port
        sim = _spawn(
            [
                "sim",
                "--antminer",
                str(antminers),
                "--xmrig",
                str(xmrigs),
                *(f"--device={family}={count}" for family, count in mix.items()),
                "--ip-base",
                SIM_IP_BASE,
                "--control",
                f"{CONTROL_HOST}:{control_port}",
            ],
            settings.data_dir / "sim.log",
        )
        children.append(sim)
        control_url = f"http://{CONTROL_HOST}:{control_port}"
        devices = await _wait_devices(control_url, sim)
        password = generate_password()
        uid = await state.auth.ensure_admin("admin", password)
        token = await state.auth.create_api_token(uid, "demo", True)
        await _register(state, devices)
        rack_token = await state.auth.create_rack_token(RACK)
        url = f"http://{settings.host}:{settings.port}"
        agent = _spawn(
            [
                "agent",
                "--server",
                url,
                "--data-dir",
                str(settings.data_dir / "agent"),
                "--interval",
                str(settings.poll_interval_s),
            ],
            settings.data_dir / "agent.log",
            # Not on the command line, where every local user's `ps` would show it.
            env={"HASHFLEET_AGENT_TOKEN": rack_token},
        )
        children.append(agent)
        info = {
            "url": url,
            "password": password,
            "token": token,
            "username": "admin",
            "sim_control": control_url,
        }
        demo_file = settings.data_dir / "demo.json"
        write_private(demo_file, json.dumps(info, indent=2))
        others = "".join(f", {count} {family}" for family, count in mix.items())
        typer.echo(
            f"hashfleet demo: {len(devices)} simulated devices ({antminers} Antminer, "
            f"{xmrigs} XMRig{others})"
        )
        typer.echo(f"  dashboard: {url}")
        typer.echo("  username:  admin")
        typer.echo(f"  password:  {password}")
        typer.echo(f"  written to {demo_file} (with an admin API token). Ctrl-C stops.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _watch(stop, serve, children)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(10)
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serve


async def _watch(
    stop: asyncio.Event, serve: asyncio.Task[None], children: list[subprocess.Popen[bytes]]
) -> None:
    while not stop.is_set() and not serve.done():
        for child in children:
            if child.poll() is not None:
                typer.echo(
                    f"a demo process exited with code {child.returncode}; stopping", err=True
                )
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def _spawn(
    args: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    make_private_dir(log_path.parent)
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "hashfleet", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


async def _wait_devices(control_url: str, sim: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if sim.poll() is not None:
                raise RuntimeError("the simulator exited; see sim.log in the data dir")
            try:
                resp = await client.get(f"{control_url}/devices", timeout=2)
                if resp.status_code == 200:
                    devices: list[dict[str, Any]] = resp.json()
                    return devices
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the simulator did not start within 60 s")


async def _register(state: ServerState, devices: list[dict[str, Any]]) -> None:
    """Register the rack and every simulated device not registered yet (restarts reuse)."""
    if state.registry.rack(RACK) is None:
        await state.registry.register_rack(RACK, "miner", {"site": "demo"})
    known = {d["opts"].get("address") for d in state.registry.rack_things(RACK)}
    new = []
    for dev in devices:
        if dev["address"] in known:
            continue
        family = dev["family"]
        prefix = _CODES.get(family, family[:3].upper())
        code = f"{prefix}-{dev['address'].replace('.', '-')}"
        new.append(
            {
                "rack": RACK,
                "code": code,
                "type": thing_type(family),
                "opts": dev["opts"],
                "info": {"site": "demo"},
                "tags": [f"f-{family}"],
            }
        )
    if new:
        await state.registry.register_things(new)
