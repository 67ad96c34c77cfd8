"""``hashfleet server``: run the server (API, WebSocket, dashboard, ingest)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
import uvicorn

from hashfleet.core.errors import HashfleetError
from hashfleet.core.files import write_private
from hashfleet.core.settings import Settings
from hashfleet.server.app import create_app
from hashfleet.server.auth.passwords import generate_password
from hashfleet.server.state import ServerState
from hashfleet.server.store import users as user_store
from hashfleet.server.store.engine import migrate


def server(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to bind (default 8000)."),
    data_dir: Path = typer.Option(None, help="Where the database and files live."),
    database_url: str = typer.Option(
        None, help="sqlite:///path or postgresql://user@host/db (default: SQLite in data dir)."
    ),
    history_config: str = typer.Option(
        None,
        help="JSON file: timezones, retention, rollup spec, alert rules, notifiers "
        "(docs/HISTORY.md).",
    ),
) -> None:
    """Run the server. On first start it creates an 'admin' user and prints its password."""
    settings = Settings.from_env(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        history_config=history_config,
    )
    try:
        asyncio.run(_bootstrap_admin(ServerState(settings)))
        # A fresh state for the server: the bootstrap's engine belonged to its own loop.
        app = create_app(state=ServerState(settings))
    except HashfleetError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", ws_max_size=1 << 20)


async def _bootstrap_admin(state: ServerState) -> None:
    """Migrate, and create 'admin' with a generated password if there is none yet."""
    await migrate(state.engine)
    try:
        if await user_store.user_by_name(state.engine, "admin") is None:
            password = generate_password()
            await state.auth.create_user("admin", password, "admin")
            path = state.settings.data_dir / "initial-admin.json"
            write_private(path, json.dumps({"username": "admin", "password": password}))
            typer.echo(f"Created user 'admin' with password: {password}  (also in {path})")
    finally:
        await state.engine.dispose()
