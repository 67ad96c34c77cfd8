"""Read-only replica mode: a server on a PostgreSQL streaming standby (``--replica``).

The standby refuses every write, so a replica server:

- does not migrate: it checks that the standby's schema is the one this code expects and
  refuses to start otherwise (``ERR_REPLICA_SCHEMA``: migrate the primary first, wait for
  the standby to replay it, or run the same hashfleet version on both);
- starts nothing that writes: no ingest bus, rollup flush, alert engine, notifier,
  retention, audit writer, job expiry, action executor or auto-sleep (the primary runs
  them all, and notifications are sent once, by the primary);
- answers every write with ``403 {"error": "ERR_SLAVE_BLOCK"}`` (``ReplicaGuard``),
  agents included: they must point at the primary;
- keeps its live index current by reloading racks, things and their latest state (plus
  the open actions and the global config) from the standby every ``REFRESH_S`` seconds.

Authentication: bearer API tokens and the session cookies of sessions opened on the
primary work (checking them only reads; ``last_used_at`` is not written). New logins are
refused: a session is a row, and the standby cannot write it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from hashfleet.core.errors import HashfleetError
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.reads import READ_METHODS, READ_ONLY_RPCS, rpc_name
from hashfleet.server.registry import doc_from_row
from hashfleet.server.store import racks as rack_store
from hashfleet.server.store import things as thing_store
from hashfleet.server.store.engine import alembic_config
from hashfleet.server.store.kv import get_value
from hashfleet.wire.codec import json_dumps

if TYPE_CHECKING:
    from hashfleet.server.state import ServerState

log = logging.getLogger(__name__)

SLAVE_BLOCK = "ERR_SLAVE_BLOCK"
# 403: the request is well-formed and the caller may be allowed it, but not here. The code
# tells it apart from a permission refusal (ERR_MISSING_WRITE_PERMISSIONS).
SLAVE_BLOCK_STATUS = 403
SLAVE_BLOCK_MESSAGE = (
    "this server is a read-only replica: send writes, logins and agents to the primary"
)
AGENT_PREFIX = "/api/agent/"
REFRESH_S = 2.0


class ReplicaSchemaMismatch(HashfleetError):
    """The standby's schema is not the one this hashfleet version expects."""

    code = "ERR_REPLICA_SCHEMA"
    status = 500


def is_read(method: str, path: str, read_only_rpcs: frozenset[str] = READ_ONLY_RPCS) -> bool:
    """Whether a request only reads (and so may run on a replica)."""
    if path.startswith(AGENT_PREFIX):
        return False  # agents ingest, take jobs and report results: the primary's business
    if method in READ_METHODS:
        return True
    return method == "POST" and rpc_name(path) in read_only_rpcs


class ReplicaGuard:
    """Pure ASGI: refuses every HTTP request that is not a read with ERR_SLAVE_BLOCK.

    WebSockets pass (they only subscribe to channels). Installed outermost, so a refused
    write reaches neither authentication nor the audit middleware (which could not store
    it anyway).
    """

    def __init__(self, app: ASGIApp, *, read_only_rpcs: frozenset[str] = READ_ONLY_RPCS) -> None:
        self.app = app
        self.read_only_rpcs = read_only_rpcs
        self._body = json_dumps({"error": SLAVE_BLOCK, "message": SLAVE_BLOCK_MESSAGE})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_read(
            scope["method"], scope.get("path", ""), self.read_only_rpcs
        ):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": SLAVE_BLOCK_STATUS,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._body})


# -- start-up -----------------------------------------------------------------------------


async def schema_revisions(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """``(current, head)``: the store's Alembic revision and the newest this code knows."""

    def _read(conn: Connection) -> tuple[str | None, str | None]:
        current = MigrationContext.configure(conn).get_current_revision()
        head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
        return current, head

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


async def check_schema(engine: AsyncEngine) -> None:
    """Raise ``ReplicaSchemaMismatch`` unless the store is at this code's newest migration."""
    current, head = await schema_revisions(engine)
    if current == head:
        return
    if current is None:
        raise ReplicaSchemaMismatch(
            "the database has no hashfleet schema: start a (non-replica) server on the "
            "primary first, then wait for the standby to replay it"
        )
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    known = {rev.revision for rev in script.walk_revisions()}
    if current in known:
        raise ReplicaSchemaMismatch(
            f"the database schema is behind this hashfleet version ({current}, expected "
            f"{head}): upgrade and restart the primary server (it migrates), wait for the "
            "standby to replay it, then start the replica"
        )
    raise ReplicaSchemaMismatch(
        f"the database schema ({current}) is newer than this hashfleet version knows "
        f"({head}): run the primary's hashfleet version on the replica"
    )


async def start_replica(state: ServerState) -> None:
    """``ServerState.start`` on a replica: check the schema, load, start only readers."""
    await check_schema(state.engine)
    state.auth.read_only = True
    instance_id = await get_value(state.engine, "instance_id")
    if instance_id is None:
        raise ReplicaSchemaMismatch(
            "the database has no instance id yet: start the primary server once first"
        )
    state.instance_id = str(instance_id)
    await state.registry.load()
    await state.actions.load()
    await state.site_config.load()
    await state.alerts.load()
    state.live.start()
    state.replica_refresher = ReplicaRefresher(state)
    state.replica_refresher.start()
    log.info(
        "read-only replica of %s started with %d things", state.instance_id, len(state.live.things)
    )


async def stop_replica(state: ServerState) -> None:
    """``ServerState.stop`` on a replica: stop what ``start_replica`` started."""
    if state.replica_refresher is not None:
        await state.replica_refresher.stop()
    await state.live.stop()
    await state.engine.dispose()


# -- keeping up with the primary ---------------------------------------------------------


class ReplicaRefresher:
    """Reloads what the primary changes into the replica's memory, every ``interval_s``."""

    def __init__(self, state: ServerState, interval_s: float = REFRESH_S) -> None:
        self.state = state
        self.interval_s = interval_s
        self.refreshes = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="replica-refresh")

    async def stop(self) -> None:
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        await run_every(self.interval_s, self.refresh, "replica refresh")

    async def refresh(self) -> int:
        """Reload racks, things, open actions and the global config; things changed."""
        state = self.state
        racks = await rack_store.list_racks(state.engine)
        rows = await thing_store.load_things(state.engine, raw_snap=True)
        state.registry._racks = {r["id"]: r for r in racks}
        changed = apply_things(state, [doc_from_row(r) for r in rows])
        await state.actions.load()
        await state.site_config.load()
        self.refreshes += 1
        return changed


def apply_things(state: ServerState, docs: list[dict[str, Any]]) -> int:
    """Bring the live index to ``docs``; only things that changed are put (and published)."""
    live = state.live
    changed = 0
    for doc in docs:
        old = live.things.get(doc["id"])
        if old is not None and _same(old, doc):
            continue
        live.put_thing(doc)
        changed += 1
    seen = {d["id"] for d in docs}
    for thing_id in [t for t in live.things if t not in seen]:
        live.remove_thing(thing_id)
        changed += 1
    if changed:
        live.sweep()
    return changed


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Same registry document and same latest snapshot (the stale sweep's marks aside)."""
    old_last = old.get("last") or {}
    new_last = new.get("last") or {}
    if old_last.get("ts") != new_last.get("ts") or old_last.get("err") != new_last.get("err"):
        return False
    return all(old.get(k) == v for k, v in new.items() if k != "last")
