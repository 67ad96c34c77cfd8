"""The garbage collector and the ingest path.

Every ingested row allocates containers, and a full collection (generation 2) walks every
tracked object in the process: the imported modules, the registry and the live index as
loaded. With those alive, full collections cost a server more CPU than everything else it
does per row (27 µs of 63 per row measured with 2,000 things, `bench/ingest.py
--profile-server`). What is alive once the server has loaded never becomes garbage as a
whole, so it is moved out of the collector's sight (``gc.freeze``) after the start-up
loads, and given back on stop. Objects made later are collected as before.

The collections left are made rarer while the server runs (:data:`RUNNING_THRESHOLDS`).
CPython's defaults collect the youngest generation every 700 net allocations: ~10 times a
1,000-snapshot batch, each walking what the batch holds alive, with a middle collection
every 10th and a full one after that. At 20,000 things those collections took 1.0 s of a
server's 11 s of CPU for 100,000 snapshots; with the thresholds below, 0.3 s. The cost is
memory: up to ~20,000 young objects (a few MB) wait for their collection, and cyclic
garbage that reached the oldest generation waits longer to be freed.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

# Young collections every 20,000 net allocations, middle ones every 10th of those, full
# ones every 10th middle one (and, as always, only once a quarter of the old objects are
# new since the last).
RUNNING_THRESHOLDS = (20_000, 10, 10)

_saved: list[tuple[int, int, int]] = []


def freeze_loaded() -> int:
    """Collect once, keep every object alive now out of later collections, and make the
    later collections rarer; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    if not _saved:
        _saved.append(gc.get_threshold())
        gc.set_threshold(*RUNNING_THRESHOLDS)
    count = gc.get_freeze_count()
    log.debug("%d objects alive after start-up left out of garbage collections", count)
    return count


def unfreeze() -> None:
    """Give the objects kept out back to the collector (their oldest generation) and put
    its thresholds back as they were."""
    gc.unfreeze()
    if _saved:
        gc.set_threshold(*_saved.pop())
