"""The agent's durable outbox (SQLite, WAL): snapshots wait here until the server acks.

Sequence numbers come from AUTOINCREMENT, so they are never reused even after deletes;
with the spool's own random id they form the idempotency key the server dedupes on.
Writes are small batched transactions, fast enough to run on the event loop.

After a long outage the file holds the whole backlog; once the server has acknowledged
most of it, the file is rewritten to what is left (``VACUUM``), and the write-ahead log is
kept under :data:`WAL_LIMIT` bytes, so the disk an outage took is given back.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from hashfleet.wire.codec import json_dumps

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payload BLOB NOT NULL
);
"""


# The file is rewritten when its free pages are over this many bytes and what it still
# holds is under COMPACT_LIVE_BYTES (the rewrite copies that, on the event loop: ~30 ms).
COMPACT_FREE_BYTES = 16 * 1024 * 1024
COMPACT_LIVE_BYTES = 4 * 1024 * 1024
# The write-ahead log is cut back to this size after each checkpoint.
WAL_LIMIT = 16 * 1024 * 1024


class Spool:
    """Append, peek in order, delete up to an acknowledged sequence number."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the spool at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a kill -9 of the agent; only an OS crash may lose the last writes.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        self._db.executescript(_SCHEMA)
        self._page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        self.compactions = 0
        row = self._db.execute("SELECT value FROM meta WHERE key='spool_id'").fetchone()
        if row is None:
            self.spool_id = uuid.uuid4().hex
            self._db.execute("INSERT INTO meta VALUES ('spool_id', ?)", (self.spool_id,))
        else:
            self.spool_id = str(row[0])

    def append(self, payloads: list[bytes]) -> None:
        """Durably append encoded items (JSON objects without ``seq``) in one transaction."""
        if not payloads:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT INTO outbox (payload) VALUES (?)", [(p,) for p in payloads]
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` items as (seq, payload)."""
        rows = self._db.execute(
            "SELECT seq, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(int(s), bytes(p)) for s, p in rows]

    def ack(self, upto_seq: int) -> int:
        """Delete every item with ``seq <= upto_seq``; returns how many went."""
        cur = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (upto_seq,))
        if cur.rowcount:
            self._compact_if_mostly_free()
        return cur.rowcount

    def size_bytes(self) -> int:
        """The database file's size (pages in use and free), without its write-ahead log."""
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        return pages * self._page

    def _compact_if_mostly_free(self) -> None:
        """Rewrite the file to its live items when a drained backlog left it mostly free.

        Costs a copy of what is still spooled, so only once little is; checked from the
        header only, so it is cheap on every acknowledgement.
        """
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        page = self._page
        if free * page < COMPACT_FREE_BYTES or (pages - free) * page > COMPACT_LIVE_BYTES:
            return
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.compactions += 1

    def pending(self) -> int:
        """How many items wait for an acknowledgement."""
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def encode_item(thing_id: str, ts: int, snap: dict[str, object] | None, err: str | None) -> bytes:
    """One poll result as spooled: ``{"thing_id", "ts", "snap", "err"}``."""
    return json_dumps({"thing_id": thing_id, "ts": ts, "snap": snap, "err": err})


def build_batch(spool_id: str, items: list[tuple[int, bytes]]) -> bytes:
    """The wire :class:`~hashfleet.wire.messages.IngestBatch` JSON, spliced without re-encoding.

    Each payload is a JSON object; its ``seq`` is prepended as the first member.
    """
    parts = [b'{"seq":%d,%s' % (seq, payload[1:]) for seq, payload in items]
    return b'{"v":1,"spool_id":"' + spool_id.encode() + b'","items":[' + b",".join(parts) + b"]}"
