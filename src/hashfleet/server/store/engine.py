"""Engine creation for SQLite (WAL, the embedded default) and PostgreSQL, plus migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hashfleet.wire.codec import json_dumps_str, json_loads

_MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Map plain URLs to their async drivers: ``sqlite:///x`` → ``sqlite+aiosqlite:///x``."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    """Whether ``url`` points at SQLite."""
    return normalize_url(url).startswith("sqlite")


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, NORMAL sync and foreign keys on every connection."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            json_serializer=json_dumps_str,
            json_deserializer=json_loads,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode is durable across process crashes (kill -9); only an OS
            # crash or power cut can lose the last transactions.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        json_serializer=json_dumps_str,
        json_deserializer=json_loads,
    )


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url))
    return cfg


# The advisory lock key migrations hold on PostgreSQL ("hfmigrat" as 8 bytes, as an int).
_MIGRATE_LOCK = int.from_bytes(b"hfmigrat", "big") - (1 << 63)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema up to the newest migration."""

    def _upgrade(conn: Connection) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several servers starting at once on one database: one migrates, the others
            # wait for its commit and then find the schema at head.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
        await conn.run_sync(_upgrade)
