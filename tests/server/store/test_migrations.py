"""The Alembic migrations build exactly the schema ``tables.py`` declares, on both databases,
and go down again."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from hashfleet.server.store.engine import alembic_config, create_engine, migrate
from hashfleet.server.store.tables import metadata


def _schema_diff(conn: Connection) -> list[Any]:
    dialect = conn.dialect.name

    def include_name(name: str | None, type_: str, parents: dict[str, Any]) -> bool:
        # The daily partitions of snapshots (PostgreSQL) are made at run time, not declared.
        return not (type_ == "table" and name is not None and name.startswith("snapshots_"))

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, _: Any) -> bool:
        # A constraint declared for one database only (see tables.snapshots).
        return bool(getattr(obj, "info", {}).get("dialect", dialect) == dialect)

    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": False,
            "include_name": include_name,
            "include_object": include_object,
        },
    )
    return list(compare_metadata(context, metadata))


async def test_migrations_match_the_declared_schema(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(_schema_diff)
        assert diff == [], diff
    finally:
        await engine.dispose()


async def test_migrations_go_down_to_nothing(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)

        def down(conn: Connection) -> list[str]:
            cfg = alembic_config(str(engine.url))
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
            return [t for t in inspect(conn).get_table_names() if t != "alembic_version"]

        async with engine.begin() as conn:
            assert await conn.run_sync(down) == []
        await migrate(engine)  # and up again
    finally:
        await engine.dispose()
