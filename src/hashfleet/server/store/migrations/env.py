"""Alembic environment: runs on the connection the server hands it (see engine.migrate)."""

from __future__ import annotations

from alembic import context

from hashfleet.server.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through hashfleet.server.store.engine.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
