"""``hashfleet ingest-worker``: write batches from the NATS JetStream bus to the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

import typer

from hashfleet.core.errors import HashfleetError
from hashfleet.core.settings import Settings
from hashfleet.server.bus.nats import NatsBus
from hashfleet.server.ingest import heap
from hashfleet.server.ingest.worker import StoreSink
from hashfleet.server.store.engine import create_engine

log = logging.getLogger(__name__)


def ingest_worker(
    bus: str = typer.Option(None, help="nats://host:4222 (or HASHFLEET_BUS)."),
    database_url: str = typer.Option(
        None, help="The server's database: postgresql://user@host/db (or HASHFLEET_DATABASE_URL)."
    ),
    workers: int = typer.Option(1, min=1, help="Consumer loops in this process."),
) -> None:
    """Consume the ingest stream and write snapshot rows to the database.

    Shares the durable consumer with the servers' own workers and any other ingest-worker:
    each batch is written by one of them and acked after the commit. The server must have
    migrated the database first. Stops cleanly on SIGINT/SIGTERM.
    """
    settings = Settings.from_env(bus=bus, database_url=database_url)
    if not settings.bus.startswith(("nats://", "tls://")):
        typer.echo("ERR_CONFIG_INVALID: --bus nats://host:port is required", err=True)
        raise typer.Exit(2)
    if not settings.database_url:
        typer.echo("ERR_CONFIG_INVALID: --database-url is required", err=True)
        raise typer.Exit(2)
    try:
        asyncio.run(run_worker(settings, workers))
    except HashfleetError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc


async def run_worker(settings: Settings, workers: int) -> None:
    """Run ``workers`` consumer loops until SIGINT/SIGTERM."""
    engine = create_engine(settings.db_url)
    nats_bus = NatsBus.from_settings(
        settings, workers=workers, name=f"hashfleet-ingest-worker@{socket.gethostname()}"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await nats_bus.connect()
        heap.freeze_loaded()  # as a server does: imports out of collections, rarer ones
        await nats_bus.start_workers(StoreSink(engine), workers)
        typer.echo(f"hashfleet ingest-worker: {workers} worker(s) on {settings.bus}")
        await stop.wait()
    finally:
        await nats_bus.stop()
        await engine.dispose()
        heap.unfreeze()
        log.info("ingest worker stopped")
