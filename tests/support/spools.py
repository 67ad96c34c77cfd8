"""Reading an agent's spool file from outside the agent (another process may be writing it).

Shared by the fault tests (``tests/faults/test_agent_kill.py``) and ``bench/outage.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def read_spool(path: Path) -> tuple[str, str, dict[int, tuple[str, int]]]:
    """integrity_check result, spool_id and pending seq → (thing_id, ts) of a spool file."""
    db = sqlite3.connect(path)
    try:
        check = str(db.execute("PRAGMA integrity_check").fetchone()[0])
        spool_id = str(db.execute("SELECT value FROM meta WHERE key = 'spool_id'").fetchone()[0])
        pending = {}
        for seq, payload in db.execute("SELECT seq, payload FROM outbox ORDER BY seq"):
            item = json.loads(payload)
            pending[int(seq)] = (str(item["thing_id"]), int(item["ts"]))
        return check, spool_id, pending
    finally:
        db.close()


def spooled(path: Path) -> int:
    """How many items wait in a spool another process writes."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()
