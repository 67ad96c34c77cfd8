"""Shared fixtures: database URLs (SQLite, PostgreSQL) and a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import PG_SKIP_REASON, postgres_database, sqlite_url
from tests.support.live_server import LiveServer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    if PG_SKIP_REASON:
        pytest.skip(PG_SKIP_REASON)
    with postgres_database() as url:
        yield url


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A running server on SQLite with an admin API token."""
    server = LiveServer(tmp_path / "server", throttle_s=0.2).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def job_rack(live_server: LiveServer) -> dict[str, Any]:
    """Rack r1 with its agent's headers; ``ended`` collects the jobs that end."""
    state = live_server.state
    assert state is not None
    live_server.call(state.registry.register_rack("r1", "miner", {}))
    token = live_server.call(state.auth.create_rack_token("r1"))
    ended: list[dict[str, Any]] = []

    async def on_results(rows: list[dict[str, Any]]) -> None:
        ended.extend(rows)

    state.jobs.on_results = on_results
    return {"headers": {"Authorization": f"Bearer {token}"}, "ended": ended}
