"""The garbage collector and the ingest path.

Every ingested row allocates containers, and a full collection (generation 2) walks every
tracked object in the process: the imported modules, the registry and the live index as
loaded. With those alive, full collections cost a server more CPU than everything else it
does per row (27 µs of 63 per row measured with 2,000 things, `bench/ingest.py
--profile-server`). What is alive once the server has loaded never becomes garbage as a
whole, so it is moved out of the collector's sight (``gc.freeze``) after the start-up
loads, and given back on stop. Objects made later are collected as before.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_loaded() -> int:
    """Collect once, then keep every object alive now out of later collections; how many."""
    gc.collect()
    gc.freeze()
    count = gc.get_freeze_count()
    log.debug("%d objects alive after start-up left out of garbage collections", count)
    return count


def unfreeze() -> None:
    """Give the objects kept out back to the collector (their oldest generation)."""
    gc.unfreeze()
