"""What a server has loaded is left out of garbage collections while it runs."""

from __future__ import annotations

import gc
from pathlib import Path

from hashfleet.core.settings import Settings
from hashfleet.server.state import ServerState
from tests.support.databases import sqlite_url


async def test_a_running_server_keeps_what_it_loaded_out_of_collections(tmp_path: Path) -> None:
    state = ServerState(Settings.from_env(data_dir=tmp_path, database_url=sqlite_url(tmp_path)))
    await state.start()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()  # objects made while running are collected as before
    finally:
        await state.stop()
    assert gc.get_freeze_count() == 0
