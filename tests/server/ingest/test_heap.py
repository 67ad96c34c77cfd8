"""What a server has loaded is left out of garbage collections while it runs, and the
collections left are rarer."""

from __future__ import annotations

import gc
from pathlib import Path

from hashfleet.core.settings import Settings
from hashfleet.server.ingest import heap
from hashfleet.server.state import ServerState
from tests.support.databases import sqlite_url


async def test_a_running_server_keeps_what_it_loaded_out_of_collections(tmp_path: Path) -> None:
    before = gc.get_threshold()
    state = ServerState(Settings.from_env(data_dir=tmp_path, database_url=sqlite_url(tmp_path)))
    await state.start()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()  # objects made while running are collected as before
        assert gc.get_threshold() == heap.RUNNING_THRESHOLDS
    finally:
        await state.stop()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_thresholds_are_set_once_and_put_back_once() -> None:
    before = gc.get_threshold()
    try:
        heap.freeze_loaded()
        heap.freeze_loaded()  # a second server in the same process
        assert gc.get_threshold() == heap.RUNNING_THRESHOLDS
        heap.unfreeze()
        assert gc.get_threshold() == before
        heap.unfreeze()
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_young_garbage_cycles_are_still_collected_while_running() -> None:
    before = gc.get_threshold()
    collected = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal collected
        if phase == "stop":
            collected += info["collected"]

    heap.freeze_loaded()
    gc.callbacks.append(count)
    try:
        for _ in range(3 * heap.RUNNING_THRESHOLDS[0]):
            cycle: list[object] = []
            cycle.append(cycle)  # freed only by a collection, never by reference counts
        assert collected > 0
    finally:
        gc.callbacks.remove(count)
        heap.unfreeze()
        gc.unfreeze()
        gc.set_threshold(*before)
