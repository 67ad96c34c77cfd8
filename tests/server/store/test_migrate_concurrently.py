"""Several servers starting at once on one PostgreSQL database migrate it once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from hashfleet.cli.server_cmd import _bootstrap_admin
from hashfleet.core.settings import Settings
from hashfleet.server.state import ServerState
from hashfleet.server.store.engine import create_engine, migrate
from tests.support.databases import PG_SKIP_REASON, postgres_database

pytestmark = pytest.mark.skipif(PG_SKIP_REASON is not None, reason=PG_SKIP_REASON or "")


def test_three_servers_migrate_a_fresh_database_at_once() -> None:
    with postgres_database() as url:

        async def run() -> str:
            engines = [create_engine(url) for _ in range(3)]
            try:
                # Without the lock, two would create the same tables and one would fail.
                await asyncio.gather(*(migrate(e) for e in engines))
                async with engines[0].connect() as conn:
                    rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
                    versions = [r[0] for r in rows]
                assert len(versions) == 1
                return str(versions[0])
            finally:
                for e in engines:
                    await e.dispose()

        assert asyncio.run(run())


def test_three_servers_bootstrap_one_admin_at_once(tmp_path: Path) -> None:
    with postgres_database() as url:
        dirs = [tmp_path / f"server-{i}" for i in range(3)]

        async def run() -> None:
            states = [ServerState(Settings.from_env(data_dir=d, database_url=url)) for d in dirs]
            await asyncio.gather(*(_bootstrap_admin(s) for s in states))

        asyncio.run(run())
        made = [d for d in dirs if (d / "initial-admin.json").exists()]
        assert len(made) == 1  # one created it; the others found it there
