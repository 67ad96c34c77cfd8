"""``hashfleet server``: run the server (API, WebSocket, dashboard, ingest)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import typer
import uvicorn

from hashfleet.core.errors import Conflict, HashfleetError
from hashfleet.core.files import write_private
from hashfleet.core.settings import Settings
from hashfleet.core.tls import check_bind, fingerprint, load_pair
from hashfleet.server.app import create_app
from hashfleet.server.auth.passwords import generate_password
from hashfleet.server.replica import check_schema
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
    tls_cert: Path = typer.Option(
        None,
        help="PEM certificate: serve HTTPS (`hashfleet certs create` makes one; "
        "or HASHFLEET_TLS_CERT).",
    ),
    tls_key: Path = typer.Option(
        None, help="The certificate's unencrypted PEM key (or HASHFLEET_TLS_KEY)."
    ),
    allow_insecure_http: bool = typer.Option(
        False,
        "--allow-insecure-http",
        help="Serve plain HTTP on a non-loopback address (behind a TLS reverse proxy only).",
    ),
    bus: str = typer.Option(
        None,
        help="Ingest bus: 'embedded' (default) or nats://host:4222 for NATS JetStream "
        "(or HASHFLEET_BUS; docs/deploy.md).",
    ),
    ingest_workers: int = typer.Option(
        None,
        help="With --bus nats://…: ingest workers in this server (default 2; 0 = only "
        "`hashfleet ingest-worker` processes write).",
    ),
    replica: bool = typer.Option(
        False,
        "--replica",
        help="Read-only replica on a PostgreSQL standby: no migrations, no writers, writes "
        "refused with ERR_SLAVE_BLOCK (or HASHFLEET_REPLICA; docs/deploy.md).",
    ),
) -> None:
    """Run the server. On first start it creates an 'admin' user and prints its password.

    Serves HTTPS with --tls-cert/--tls-key; plain HTTP only on loopback unless
    --allow-insecure-http.
    """
    settings = Settings.from_env(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        history_config=history_config,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
        # False is the flag's default, not a choice: leave the environment's value.
        allow_insecure_http=True if allow_insecure_http else None,
        replica=True if replica else None,
        bus=bus,
        ingest_workers=ingest_workers,
    )
    try:
        cert_fingerprint = check_transport(settings)
        if settings.replica:
            # The standby cannot be migrated nor given an admin: check its schema instead.
            asyncio.run(_check_replica(ServerState(settings)))
        else:
            asyncio.run(_bootstrap_admin(ServerState(settings)))
        # A fresh state for the server: the bootstrap's engine belonged to its own loop.
        app = create_app(state=ServerState(settings))
    except HashfleetError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    scheme = "https" if settings.tls else "http"
    host_in_url = f"[{settings.host}]" if ":" in settings.host else settings.host
    typer.echo(f"hashfleet server: {scheme}://{host_in_url}:{settings.port}")
    if cert_fingerprint:
        typer.echo(f"  certificate SHA-256 fingerprint (agents: --pin-sha256): {cert_fingerprint}")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws_max_size=1 << 20,
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
    )


def check_transport(settings: Settings) -> str:
    """Check the TLS pair (if any) and the bind address; the certificate's fingerprint or "".

    Raises ``TlsInvalid`` for an unusable pair and ``InsecureBind`` for plain HTTP on a
    non-loopback address without ``allow_insecure_http``.
    """
    if settings.tls:
        cert = load_pair(settings.tls_cert, settings.tls_key)
        if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
            # Still start: pinned agents keep working; browsers and --ca-file agents will not.
            typer.echo(
                f"warning: the certificate {settings.tls_cert} expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d}",
                err=True,
            )
        return fingerprint(cert)
    check_bind(settings.host, tls=False, allow_insecure_http=settings.allow_insecure_http)
    return ""


async def _check_replica(state: ServerState) -> None:
    """Refuse to start a replica whose store is not at this version's schema."""
    try:
        await check_schema(state.engine)
    finally:
        await state.engine.dispose()


async def _bootstrap_admin(state: ServerState) -> None:
    """Migrate, and create 'admin' with a generated password if there is none yet."""
    await migrate(state.engine)
    try:
        if await user_store.user_by_name(state.engine, "admin") is None:
            password = generate_password()
            try:
                await state.auth.create_user("admin", password, "admin")
            except Conflict:
                return  # another server starting on the same database made it first
            path = state.settings.data_dir / "initial-admin.json"
            write_private(path, json.dumps({"username": "admin", "password": password}))
            typer.echo(f"Created user 'admin' with password: {password}  (also in {path})")
    finally:
        await state.engine.dispose()
