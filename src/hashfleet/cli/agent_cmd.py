"""``hashfleet agent``: poll a rack's devices and ship snapshots to the server."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import typer

from hashfleet.agent.runner import Agent


def agent(
    server: str = typer.Option(..., help="Server URL, e.g. http://127.0.0.1:8000"),
    token: str = typer.Option(
        None, help="The rack's agent token (or HASHFLEET_AGENT_TOKEN).", show_default=False
    ),
    data_dir: Path = typer.Option(Path("./hashfleet-agent"), help="Where the spool lives."),
    concurrency: int = typer.Option(64, help="Most polls in flight at once."),
    interval: float = typer.Option(None, help="Poll interval in seconds (default: server's)."),
) -> None:
    """Run an agent for the rack the token belongs to."""
    token = token or os.environ.get("HASHFLEET_AGENT_TOKEN", "")
    if not token:
        raise typer.BadParameter("give --token or set HASHFLEET_AGENT_TOKEN")
    runner = Agent(server, token, data_dir, concurrency=concurrency, interval=interval)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runner.run())
    finally:
        runner.close()
