"""``hashfleet agent``: poll a rack's devices and ship snapshots to the server.

A ``rackReboot`` action makes the agent stop gracefully (jobs reported, spool drained for
a few seconds) and then re-execute itself (:func:`reexec`: the same Python, the same
arguments), so restarting needs no supervisor. The process keeps its PID, so under systemd
it stays the same service; a unit with ``Restart=always`` would equally restart an agent
that simply exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import typer

from hashfleet.agent.runner import Agent
from hashfleet.core.errors import HashfleetError
from hashfleet.core.settings import Settings


def agent(
    server: str = typer.Option(..., help="Server URL, e.g. https://fleet.example:8000"),
    token: str = typer.Option(
        None, help="The rack's agent token (or HASHFLEET_AGENT_TOKEN).", show_default=False
    ),
    data_dir: Path = typer.Option(Path("./hashfleet-agent"), help="Where the spool lives."),
    concurrency: int = typer.Option(64, help="Most polls in flight at once."),
    interval: float = typer.Option(None, help="Poll interval in seconds (default: server's)."),
    ca_file: Path = typer.Option(
        None,
        help="Trust this CA or the server's self-signed certificate, PEM "
        "(or HASHFLEET_AGENT_CA_FILE).",
    ),
    pin_sha256: str = typer.Option(
        None,
        help="Accept only the server certificate with this SHA-256 fingerprint, as "
        "`hashfleet certs create` prints it (or HASHFLEET_AGENT_PIN_SHA256).",
    ),
    allow_insecure_http: bool = typer.Option(
        False,
        "--allow-insecure-http",
        help="Allow an http:// server URL to another machine (token sent unencrypted).",
    ),
) -> None:
    """Run an agent for the rack the token belongs to."""
    token = token or os.environ.get("HASHFLEET_AGENT_TOKEN", "")
    if not token:
        raise typer.BadParameter("give --token or set HASHFLEET_AGENT_TOKEN")
    settings = Settings.from_env(
        agent_ca_file=str(ca_file) if ca_file else None,
        agent_pin_sha256=pin_sha256,
        # False is the flag's default, not a choice: leave the environment's value.
        allow_insecure_http=True if allow_insecure_http else None,
    )
    try:
        runner = Agent(
            server,
            token,
            data_dir,
            concurrency=concurrency,
            interval=interval,
            ca_file=settings.agent_ca_file or None,
            pin_sha256=settings.agent_pin_sha256 or None,
            allow_insecure_http=settings.allow_insecure_http,
        )
    except HashfleetError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runner.run())
    finally:
        runner.close()
    if runner.restart_requested:
        typer.echo("rackReboot: restarting the agent", err=True)
        reexec()


def reexec() -> None:
    """Replace this process with a fresh run of the same command (never returns).

    ``sys.orig_argv`` is the command line as the interpreter got it (``-m hashfleet`` or
    the ``hashfleet`` script, with interpreter options), run again by the same Python.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
