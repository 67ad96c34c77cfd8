"""Leadership among several servers on one PostgreSQL database.

Some work must be done by one server only: folding-and-flushing rollups, evaluating alerts
and sending their notifications, retention, job expiry, executing approved actions and the
auto-sleep automation (docs/deploy.md, "Several servers behind one address"). The leader
is the server holding a PostgreSQL *session* advisory lock (``pg_try_advisory_lock``) on
a dedicated connection kept open for that purpose:

- the lock lives as long as the connection: a leader that dies (even ``kill -9``) closes
  its socket, PostgreSQL ends the session and the lock is free at once; a leader whose
  host vanishes is noticed by TCP keepalives (set on the connection, ~10 s);
- the leader checks its connection every ``check_s``; when a check fails (or times out)
  it stops its leader-only tasks (``on_lose``) and becomes a follower;
- a follower tries to take the lock every ``retry_s`` (2 s), so a takeover follows the
  leader's death within ``retry_s`` plus the time ``on_gain`` takes.

Without a PostgreSQL URL (SQLite, or a single server) there is nobody to elect: the
server is leader from :meth:`Leadership.start` to :meth:`Leadership.stop`.

**Fencing.** A leader cut off from its lock learns it only at its next check, and a
transaction of its leader-only work may be in flight meanwhile, beside the new leader's.
Such work takes :meth:`Leadership.fence` in its transaction: a *shared* transaction lock
on the fence key, then a check, inside that transaction, that the leader lock is still
held by this server's lock session. A new leader, once it holds the lock and before it
counts as the leader (``is_leader``, ``on_gain``), takes the fence key *exclusively*
once: it waits for the old leader's fenced transactions to end (terminating them after
``FENCE_WAIT_S``: a host that vanished mid-transaction would otherwise hold its row
locks until TCP gives up), so it reads what they committed, and every fenced
transaction that starts later finds the lock in another session and fails with
``ERR_NOT_LEADER``, writing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from hashfleet.core.errors import HashfleetError

log = logging.getLogger(__name__)

# One lock per database: the advisory lock key of hashfleet's leadership ("hflead" in ASCII).
LOCK_KEY = 0x68666C656164
# The fence's key beside a leader lock's key (its own space of advisory lock keys).
FENCE_BIT = 1 << 62
# How long a new leader waits for the old leader's fenced transactions before ending them.
FENCE_WAIT_S = 5.0
RETRY_S = 2.0
CHECK_S = 2.0
CONNECT_TIMEOUT_S = 5.0
# Keepalives on the lock's connection: PostgreSQL notices a vanished leader host in ~10 s.
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}

_HELD_BY = text(
    "SELECT pg_advisory_xact_lock_shared(:fence),"
    " EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = :pid AND classid = :hi AND objid = :lo AND objsubid = 1)"
)


def lock_halves(key: int) -> tuple[int, int]:
    """How ``pg_locks`` shows a bigint advisory lock key: ``(classid, objid)``, with
    ``objsubid = 1``."""
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


class NotLeader(HashfleetError):
    """This server no longer holds the leader lock: its leader-only write was refused."""

    code = "ERR_NOT_LEADER"
    status = 409


Hook = Callable[[], Awaitable[None]]
# Leadership.fence, as the leader-only writers take it in their transaction.
Fence = Callable[[AsyncConnection], Awaitable[None]]


async def no_fence(conn: AsyncConnection) -> None:
    """The fence of a server that needs none (alone, it is always the leader)."""


Connect = Callable[..., Awaitable[Any]]


# Query parameters of the store's URL that mean the same to the lock's DSN. Others are the
# engine's (prepared_statement_cache_size…): asyncpg would send them to PostgreSQL as
# settings, and the lock's connection would fail ("unrecognized configuration parameter").
_DSN_PARAMS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "target_session_attrs"}
)


def lock_dsn(db_url: str) -> str | None:
    """The libpq DSN for the lock's connection, or None when the store is not PostgreSQL."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        return None
    query = {k: v for k, v in url.query.items() if k in _DSN_PARAMS}
    if "ssl" in url.query and "sslmode" not in query:
        query["sslmode"] = url.query["ssl"]  # the asyncpg dialect's spelling
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


class Leadership:
    """Holds (or waits for) the leader lock and runs ``on_gain``/``on_lose`` on changes."""

    def __init__(
        self,
        dsn: str | None,
        *,
        on_gain: Hook,
        on_lose: Hook,
        key: int = LOCK_KEY,
        retry_s: float = RETRY_S,
        check_s: float = CHECK_S,
        connect: Connect = asyncpg.connect,
        name: str = "hashfleet-leader",
    ) -> None:
        self.dsn = dsn
        self.on_gain = on_gain
        self.on_lose = on_lose
        self.key = key
        self.retry_s = retry_s
        self.check_s = check_s
        self.connect = connect
        self.name = name
        self.is_leader = False
        self.gains = 0
        self.losses = 0
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._change = asyncio.Lock()
        self._stopping = False
        self._failures = 0  # lock attempts failed in a row (not "held by another")
        self._pid: int | None = None  # the lock session's backend, while it holds the lock
        self.fenced_out = 0  # fenced writes refused (this server was no longer the leader)

    @property
    def elected(self) -> bool:
        """Whether leadership is decided by the lock (False: always leader)."""
        return self.dsn is not None

    @property
    def fence_key(self) -> int:
        """The advisory lock key of this lock's fence."""
        return self.key ^ FENCE_BIT

    async def fence(self, conn: AsyncConnection) -> None:
        """Let the open transaction of ``conn`` write as the leader only while this server
        holds the lock, and make a new leader wait for it (see the module's docstring);
        raises :class:`NotLeader` (the caller's transaction then rolls back).

        Alone (no lock to hold), a leader is always the leader and nothing is checked.
        """
        if not self.elected:
            return
        pid = self._pid
        if not self.is_leader or pid is None:
            self.fenced_out += 1
            raise NotLeader("this server is not the leader")
        hi, lo = lock_halves(self.key)
        params = {"fence": self.fence_key, "pid": pid, "hi": hi, "lo": lo}
        row = (await conn.execute(_HELD_BY, params)).one()
        if not row[1]:
            self.fenced_out += 1
            raise NotLeader("the leader lock is no longer this server's")

    async def start(self) -> None:
        """Become leader at once (no lock), or try once now and keep trying in a task."""
        if self.dsn is None:
            await self._gain()
            return
        await self.step()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop_trying(self) -> None:
        """First step of a stop: never become leader from now on (a follower shutting down
        must not take the lock its leader is releasing and restart the tasks it stopped);
        a leader keeps the lock until :meth:`stop`."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def stop(self) -> None:
        """Stop trying and release the lock (``on_lose`` is not called: the server is
        stopping its tasks itself, flushing what the leader owes first)."""
        await self.stop_trying()
        self.is_leader = False
        await self._close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_s if self.is_leader else self.retry_s)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leadership step failed")

    async def step(self) -> bool:
        """One round: a leader checks its connection, a follower tries the lock."""
        if self.is_leader:
            if not await self._alive():
                log.warning("leadership lost: the lock's connection to PostgreSQL failed")
                await self._close()
                await self._lose()
        elif not self._stopping and await self._try_lock():
            await self._gain()
        return self.is_leader

    async def _try_lock(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncio.wait_for(
                    self.connect(
                        self.dsn,
                        timeout=CONNECT_TIMEOUT_S,
                        server_settings={"application_name": self.name, **KEEPALIVES},
                    ),
                    CONNECT_TIMEOUT_S + 1,
                )
            got = await asyncio.wait_for(
                self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Said aloud when it lasts: with no server able to take the lock, nothing
            # flushes rollups, evaluates alerts or executes actions.
            self._failures += 1
            level = logging.WARNING if self._failures % 30 == 3 else logging.DEBUG
            log.log(level, "leader lock not tried (%d times in a row): %r", self._failures, exc)
            await self._close()
            return False
        self._failures = 0
        if got:
            self._pid = self._conn.get_server_pid()
        return bool(got)

    async def _barrier(self) -> None:
        """Wait for the fenced transactions of a previous leader to end (ending those that
        outlast ``FENCE_WAIT_S``); later ones find the lock in this session and fail."""
        conn = self._conn
        fence = self.fence_key
        # The exclusive lock is granted once every fenced transaction holding the fence now
        # has ended. One starting later queues behind this request, then finds the leader
        # lock in this session and fails.
        await conn.execute(f"SET lock_timeout = {int(FENCE_WAIT_S * 1000)}")
        try:
            try:
                await conn.fetchval("SELECT pg_advisory_lock($1)", fence)
            except asyncpg.LockNotAvailableError:
                ended = await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                    " AND classid = $1 AND objid = $2 AND objsubid = 1",
                    *lock_halves(fence),
                )
                log.warning(
                    "ended %d transaction(s) of the previous leader still running after %.0f s",
                    ended,
                    FENCE_WAIT_S,
                )
                await conn.execute("SET lock_timeout = 0")
                await conn.fetchval("SELECT pg_advisory_lock($1)", fence)
            await conn.fetchval("SELECT pg_advisory_unlock($1)", fence)
        finally:
            await conn.execute("SET lock_timeout = 0")

    async def _alive(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), max(1.0, self.check_s))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self._pid = None
        if conn is None:
            return
        # Closing the session releases the lock; a dead connection is just dropped.
        try:
            await asyncio.wait_for(conn.close(), 2.0)
        except Exception:  # noqa: BLE001 - the socket is gone either way
            conn.terminate()

    async def _gain(self) -> None:
        async with self._change:
            if self.is_leader or self._stopping:
                return
            if self.elected:
                # Not the leader before the previous one's fenced writes are over.
                try:
                    await self._barrier()
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.exception("waiting for the previous leader's writes failed; not leading")
                    await self._close()
                    return
            self.is_leader = True
            self.gains += 1
            if self.elected:  # alone, there is nothing to tell
                log.info("this server is now the leader")
            try:
                await self.on_gain()
            except Exception:
                # Half-started leader tasks must not run beside another leader's.
                log.exception("starting the leader's tasks failed; giving leadership up")
                self.is_leader = False
                await self._safe_lose()
                await self._close()

    async def _lose(self) -> None:
        async with self._change:
            if not self.is_leader:
                return
            self.is_leader = False
            self.losses += 1
            await self._safe_lose()

    async def _safe_lose(self) -> None:
        try:
            await self.on_lose()
        except Exception:
            log.exception("stopping the leader's tasks failed")
