"""The ``hashfleet`` command: server, agent, sim, demo, rpc, scan, chia."""

from __future__ import annotations

import logging

import typer

from hashfleet import __version__
from hashfleet.cli import (
    agent_cmd,
    certs_cmd,
    chia_cmd,
    demo_cmd,
    ingest_cmd,
    rpc_cmd,
    scan_cmd,
    server_cmd,
    sim_cmd,
    users_cmd,
)

app = typer.Typer(
    name="hashfleet",
    help="Watch and run a mining fleet: server, agents, simulators, demo, RPC client.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hashfleet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """hashfleet: self-hosted fleet monitoring and control for mining farms."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Every HTTP request and migration step at INFO drowns what an operator needs.
        for noisy in ("httpx", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # pymodbus logs an ERROR with a hex dump for every failed request; the poller already
        # logs a device's failure once (and its recovery once).
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


app.command("server")(server_cmd.server)
app.command("ingest-worker")(ingest_cmd.ingest_worker)
app.command("agent")(agent_cmd.agent)
app.command("sim")(sim_cmd.sim)
app.command("demo")(demo_cmd.demo)
app.command("rpc")(rpc_cmd.rpc)
app.command("scan")(scan_cmd.scan_cmd)
app.add_typer(chia_cmd.app, name="chia")
app.add_typer(certs_cmd.app, name="certs")
app.add_typer(users_cmd.users_app, name="users")
app.add_typer(users_cmd.tokens_app, name="tokens")
