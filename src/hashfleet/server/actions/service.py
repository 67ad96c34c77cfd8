"""ActionService: pushAction, voteAction, cancel, queries — memory, store and channel.

Open actions (voting, ready, executing) are held in memory, loaded from the store at
start. Every transition is computed by :mod:`hashfleet.server.actions.machine`, written to
the store, and only then becomes the current document and is acknowledged: an answer
``1`` to voteAction means the vote survives a crash.

One ``asyncio.Lock`` serialises all transitions. Votes are rare, human-paced events, and
one lock also makes id issuing and the read-modify-write of a document trivially safe
(two concurrent votes that both complete an approval cannot both see the old tally).

Execution is not built here. An action that becomes ``ready`` is offered to
``on_ready`` (the agent-queue step plugs in there), which takes it with
:meth:`ActionService.start_execution` and reports per-target results with
:meth:`ActionService.record_result`; with no executor, ready actions stay ready.

Several servers on one store (``announce`` set): each transition is announced
(``actions`` notice with the ids) and the other servers reload those documents
(:meth:`ActionService.on_notice`, and :meth:`ActionService.refresh_open` periodically for
a missed notice); transitions start from the stored document, not this server's copy.
Only the leader has an executor, so a ready action is executed once, by the leader. Two
votes on one action at the same instant on two servers are not serialised (the later
write wins; votes are human-paced).

The ``actions`` WebSocket channel serves the open actions: a snapshot
``{"actions": [...]}``, then diffs ``{"upsert": [...], "remove": [ids]}`` (an action that
is done or cancelled leaves the channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import BadRequest, Conflict, NotFound
from hashfleet.core.ids import new_id
from hashfleet.server.actions import machine
from hashfleet.server.actions.model import (
    DEFAULT_REQ_VOTES_NEG,
    DEFAULT_REQ_VOTES_POS,
    EXECUTING,
    FINAL_STATES,
    OPEN_STATES,
    READY,
    STATES,
    IdClock,
)
from hashfleet.server.actions.targets import Request, check_request, resolve
from hashfleet.server.auth.principal import Principal
from hashfleet.server.bus.base import Announce
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.paths import project
from hashfleet.server.registry import Registry
from hashfleet.server.store import actions as action_store

log = logging.getLogger(__name__)

ACTIONS_CHANNEL = "actions"
ACTIONS_NOTICE = "actions"
MAX_BATCH = 1000
BATCH_UID_MAX = 128
DEFAULT_QUERY_LIMIT = 100
MAX_QUERY_LIMIT = 1000
# A queryActions ``query`` is matched in Python: at most this many stored actions are
# read per query looking for matches, so one request cannot walk the whole history.
MAX_QUERY_SCAN = 20_000
_SCAN_PAGE = 500
_FILTER_KEYS = ("gt", "gte", "lt", "lte")
# Tries of a vote or cancel that another server's write keeps overtaking (human-paced:
# one retry is the most ever seen in practice).
_WRITE_TRIES = 8

Executor = Callable[[dict[str, Any]], Awaitable[None]]


class ActionService:
    """Approval-voted actions of one server."""

    def __init__(
        self,
        engine: AsyncEngine,
        live: LiveIndex,
        registry: Registry,
        *,
        req_votes_pos: int = DEFAULT_REQ_VOTES_POS,
        req_votes_neg: int = DEFAULT_REQ_VOTES_NEG,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.engine = engine
        self.live = live
        self.registry = registry
        self.req_votes_pos = req_votes_pos
        self.req_votes_neg = req_votes_neg
        self.clock = clock
        self.on_ready: Executor | None = None
        self._open: dict[int, dict[str, Any]] = {}
        self._ids = IdClock()
        self._lock = asyncio.Lock()
        self._offers: set[asyncio.Task[None]] = set()
        # Ids being offered right now: re-offering (set_executor, start) must not hand the
        # executor the same action twice at once.
        self._offering: set[int] = set()
        self._started = False
        # Set when other servers share the store (see the module docstring).
        self.announce: Announce | None = None
        live.provide(ACTIONS_CHANNEL, self)

    # -- start-up -------------------------------------------------------------------------

    async def load(self) -> None:
        """Take the open actions from the store; ids continue above the highest stored."""
        self._ids.seen(await action_store.max_action_id(self.engine))
        docs = await action_store.open_actions(self.engine, OPEN_STATES)
        self._open = {int(d["id"]): d for d in docs}

    def start(self) -> None:
        """Offer the ready actions (also those left ready by a previous run) to ``on_ready``."""
        self._started = True
        for doc in list(self._open.values()):
            if doc["state"] == READY:
                self._offer(doc)

    def set_executor(self, executor: Executor | None) -> None:
        """Plug in (or remove) the executor; the ready actions are offered to it at once."""
        self.on_ready = executor
        if self._started:
            self.start()

    async def stop(self) -> None:
        """Cancel offers still running (their actions stay ready in the store)."""
        self._started = False
        tasks = list(self._offers)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._offers.clear()
        self._offering.clear()

    # -- writes ---------------------------------------------------------------------------

    async def push(self, principal: Principal, query: Any, action: Any, params: Any) -> Any:
        """pushAction: ``{"id", "data", "errors"}``; ``id`` null when nothing may run."""
        req = check_request(query, action, params)
        _require_writer(principal)
        return (await self._push_many(principal, [req], None))[0]

    async def push_batch(self, principal: Principal, items: Any, uid: Any) -> list[Any]:
        """pushActionsBatch: one pushAction answer per item, all sharing a batch UID.

        Every item is checked before any is created, so a malformed item creates nothing.
        The UID is ``{timestamp}-{batchActionUID}`` (a random one when none is given).
        """
        if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
            raise BadRequest(
                f"batchActionsPayload must be an array of 1 to {MAX_BATCH} actions",
                code="ERR_PAYLOAD_INVALID",
            )
        if uid is None:
            uid = new_id()
        if not isinstance(uid, str) or not uid or len(uid) > BATCH_UID_MAX:
            raise BadRequest(
                f"batchActionUID must be a string of 1 to {BATCH_UID_MAX} characters",
                code="ERR_PAYLOAD_INVALID",
            )
        reqs = []
        for item in items:
            if not isinstance(item, dict):
                raise BadRequest("each batch item must be an object", code="ERR_PAYLOAD_INVALID")
            reqs.append(check_request(item.get("query"), item.get("action"), item.get("params")))
        _require_writer(principal)
        return await self._push_many(principal, reqs, f"{self.clock()}-{uid}")

    async def _push_many(
        self, principal: Principal, reqs: Sequence[Request], batch_uid: str | None
    ) -> list[Any]:
        out: list[Any] = []
        docs: list[dict[str, Any]] = []
        async with self._lock:
            now = self.clock()
            for req in reqs:
                res = resolve(
                    req,
                    self.live,
                    self.registry.rack,
                    lambda t: principal.can(t, "w"),
                    default_pos=self.req_votes_pos,
                    default_neg=self.req_votes_neg,
                )
                if res.empty:
                    out.append({"id": None, "data": None, "errors": res.errors})
                    continue
                doc = machine.create(
                    action_id=self._ids.next(now),
                    action=req.action,
                    method=req.method,
                    params=req.params,
                    query=req.query,
                    targets=res.targets,
                    creator=principal.name,
                    now=now,
                    batch_uid=batch_uid,
                )
                docs.append(doc)
                out.append({"id": doc["id"], "data": doc, "errors": res.errors})
            for attempt in range(3):
                try:
                    await action_store.insert_actions(self.engine, docs)
                    break
                except IntegrityError:
                    # Another server issued the same ms-based id: take ids above the store's.
                    if attempt == 2 or self.announce is None:
                        raise
                    self._ids.seen(await action_store.max_action_id(self.engine))
                    for doc in docs:
                        doc["id"] = self._ids.next(now)
                    for item in out:
                        if item["data"] is not None:
                            item["id"] = item["data"]["id"]
            for doc in docs:
                self._put(doc)
        await self._announce(docs)
        return out

    async def vote(self, principal: Principal, action_id: Any, approve: Any) -> int:
        """voteAction by the caller; returns 1.

        ``ERR_ACTION_NOTFOUND`` (404), ``ERR_ACTION_DENIED`` (403, no write permission on
        a required type), ``ERR_ACTION_STATE_INVALID`` / ``ERR_ACTION_VOTE_CHANGED`` (409).
        """
        aid = _action_id(action_id)
        if not isinstance(approve, bool):
            raise BadRequest("approve must be true or false", code="ERR_PAYLOAD_INVALID")
        for _ in range(_WRITE_TRIES):
            async with self._lock:
                doc = await self._get_locked(aid)
                new = machine.vote(doc, principal.name, approve, principal.perms(), self.clock())
                if new is doc:
                    return 1
                if await self._write_if_unchanged(new, doc):
                    self._put(new)
                    break
            # Another server recorded a vote meanwhile: vote again on what it is now.
        else:
            raise _busy(aid)
        await self._announce([new])
        return 1

    async def cancel_many(self, principal: Principal, ids: Any, batch_uid: Any = None) -> int:
        """cancelActionsBatch: how many actions were cancelled.

        Ids that are unknown, executing or already final are skipped (cancelling twice is
        harmless). When any open action named is neither the caller's nor the caller an
        administrator, nothing is cancelled (``ERR_ACTION_CANCEL_DENIED``).
        """
        wanted = _action_ids(ids) if ids is not None else []
        if batch_uid is not None and not isinstance(batch_uid, str):
            raise BadRequest("batchActionUID must be a string", code="ERR_PAYLOAD_INVALID")
        if ids is None and batch_uid is None:
            raise BadRequest("give ids or batchActionUID", code="ERR_PAYLOAD_INVALID")
        async with self._lock:
            docs = {i: self._open[i] for i in wanted if i in self._open}
            if batch_uid is not None:
                for doc in self._open.values():
                    if doc.get("batchActionUID") == batch_uid:
                        docs[int(doc["id"])] = doc
            now = self.clock()
            cancellable = [d for d in docs.values() if d["state"] != EXECUTING]
            new = [machine.cancel(d, principal.name, principal.is_admin, now) for d in cancellable]
            if self.announce is None:
                await action_store.update_actions(self.engine, new)
            else:
                new = await self._cancel_shared(principal, new, docs)
            for doc in new:
                self._put(doc)
        await self._announce(new)
        return len(new)

    async def _cancel_shared(
        self, principal: Principal, new: list[dict[str, Any]], seen: dict[int, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Cancellations with other servers on the store: each written only over the
        version read, else read again and cancelled again (it may have started meanwhile:
        then it is left to run). Returns what was written."""
        written = []
        for doc in new:
            before = seen[int(doc["id"])]
            for _ in range(_WRITE_TRIES):
                if await self._write_if_unchanged(doc, before):
                    written.append(doc)
                    break
                fresh = await action_store.get_action(self.engine, int(doc["id"]))
                if fresh is None or fresh["state"] in (EXECUTING, *FINAL_STATES):
                    break
                before = fresh
                doc = machine.cancel(fresh, principal.name, principal.is_admin, self.clock())
            else:
                raise _busy(int(doc["id"]))
        return written

    async def _write_if_unchanged(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        """Store ``new`` over ``old``. Alone on the store that is a plain write; with other
        servers, only if the stored action is still ``old`` (compare-and-set on its
        ``updatedAt``, made to move forward so every write is a new version)."""
        if self.announce is None:
            await action_store.update_actions(self.engine, [new])
            return True
        new["updatedAt"] = max(int(new["updatedAt"]), int(old["updatedAt"]) + 1)
        return await action_store.update_action_if(self.engine, new, int(old["updatedAt"]))

    # -- execution hooks (used by the executor of a later step) ---------------------------

    async def start_execution(self, action_id: int) -> dict[str, Any]:
        """ready → executing; the executor calls this before it queues any call."""
        async with self._lock:
            doc = await self._get_locked(action_id)
            new = machine.start(doc, self.clock())
            await action_store.update_actions(self.engine, [new])
            self._put(new)
        await self._announce([new])
        return new

    async def record_result(
        self,
        action_id: int,
        target: str,
        state: str,
        *,
        error: str | None = None,
        result: Any = None,
    ) -> dict[str, Any]:
        """One target's outcome; the last one makes the action ``done``."""
        return await self.record_results(
            action_id, [machine.TargetResult(target, state, error, result)]
        )

    async def record_results(
        self, action_id: int, results: Sequence[machine.TargetResult]
    ) -> dict[str, Any]:
        """Several targets' outcomes in one transition and one write."""
        async with self._lock:
            doc = await self._get_locked(action_id)
            new = machine.record_results(doc, results, self.clock())
            if new is not doc:
                await action_store.update_actions(self.engine, [new])
                self._put(new)
        if new is not doc:
            await self._announce([new])
        return new

    # -- reads ----------------------------------------------------------------------------

    def open_actions(self) -> list[dict[str, Any]]:
        """Voting, ready and executing actions, oldest first."""
        return [self._open[i] for i in sorted(self._open)]

    async def get(self, action_id: int) -> dict[str, Any] | None:
        """One action in any state, or None."""
        doc = self._open.get(action_id)
        if doc is not None:
            return doc
        return await action_store.get_action(self.engine, action_id)

    async def get_many(self, ids: Any) -> list[Any]:
        """getActionsBatch: ``{"type": state, "action": doc}`` per id, null when unknown."""
        wanted = _action_ids(ids)
        found = {i: self._open[i] for i in wanted if i in self._open}
        missing = [i for i in wanted if i not in found]
        if missing:
            found.update(await action_store.get_actions(self.engine, missing))
        return [
            {"type": found[i]["state"], "action": found[i]} if i in found else None for i in wanted
        ]

    async def query(self, queries: Any, group_batch: Any = False) -> dict[str, Any]:
        """queryActions: per ``type`` (state), the actions matching, newest first."""
        if not isinstance(queries, list) or not queries:
            raise BadRequest("queries must be a non-empty array", code="ERR_PAYLOAD_INVALID")
        checked = [_check_query(q) for q in queries]
        types = [c[0] for c in checked]
        if len(set(types)) != len(types):
            raise BadRequest("one query per type", code="ERR_PAYLOAD_INVALID")
        out: dict[str, Any] = {}
        for state, bounds, limit, query, fields in checked:
            docs = await self._scan(state, bounds, limit, query)
            if group_batch:
                out[state] = [
                    {**g, "actions": [project(a, fields) for a in g["actions"]]}
                    for g in _group(docs)
                ]
            else:
                out[state] = [project(d, fields) for d in docs]
        return out

    async def _scan(
        self, state: str, bounds: dict[str, int], limit: int, query: Any
    ) -> list[dict[str, Any]]:
        if query is None:
            return await action_store.query_actions(self.engine, state, bounds, limit=limit)
        pred = compile_query(query)
        found: list[dict[str, Any]] = []
        scanned = 0
        before: tuple[int, int] | None = None
        while len(found) < limit and scanned < MAX_QUERY_SCAN:
            page = await action_store.query_actions(
                self.engine, state, bounds, limit=_SCAN_PAGE, before=before
            )
            scanned += len(page)
            found.extend(d for d in page if pred(d))
            if len(page) < _SCAN_PAGE:
                break
            before = (int(page[-1]["createdAt"]), int(page[-1]["id"]))
        return found[:limit]

    # -- the ``actions`` channel ----------------------------------------------------------

    def full_state(self) -> Any:
        """The channel's snapshot: every open action."""
        return {"actions": self.open_actions()}

    def diff(self, keys: set[str]) -> Any:
        """Open actions changed since the last diff, and ids of those that closed."""
        upsert, remove = [], []
        for key in sorted(keys, key=int):
            doc = self._open.get(int(key))
            if doc is None:
                remove.append(int(key))
            else:
                upsert.append(doc)
        return {"upsert": upsert, "remove": remove}

    # -- several servers ------------------------------------------------------------------

    async def _announce(self, docs: Sequence[dict[str, Any]]) -> None:
        if self.announce is None or not docs:
            return
        try:
            await self.announce(ACTIONS_NOTICE, {"ids": [int(d["id"]) for d in docs]})
        except Exception:
            log.exception("actions notice failed")

    async def on_notice(self, data: dict[str, Any]) -> None:
        """An ``actions`` notice from another server: reload the actions it names."""
        ids = [int(i) for i in data.get("ids") or [] if isinstance(i, int)]
        if ids:
            stored = await action_store.get_actions(self.engine, ids)
            self._take(ids, stored)

    async def refresh_open(self) -> int:
        """Bring memory to the store's open actions (a missed notice); returns changes."""
        docs = {int(d["id"]): d for d in await action_store.open_actions(self.engine, OPEN_STATES)}
        ids = sorted(set(docs) | set(self._open))
        gone = [i for i in ids if i not in docs]
        stored = dict(docs)
        if gone:
            stored.update(await action_store.get_actions(self.engine, gone))
        return self._take(ids, stored)

    def _take(self, ids: Sequence[int], stored: dict[int, dict[str, Any]]) -> int:
        changed = 0
        for action_id in ids:
            doc = stored.get(action_id)
            if doc is None:
                if self._open.pop(action_id, None) is not None:
                    self.live.hub.mark(ACTIONS_CHANNEL, str(action_id))
                    changed += 1
                continue
            if self._open.get(action_id) == doc:
                continue
            self._ids.seen(action_id)
            self._put(doc)  # offered to the executor when ready (the leader has one)
            changed += 1
        return changed

    # -- internals ------------------------------------------------------------------------

    async def _get_locked(self, action_id: int) -> dict[str, Any]:
        # Shared store: another server may have moved the action on since our copy.
        doc = None if self.announce is not None else self._open.get(action_id)
        if doc is None:
            doc = await action_store.get_action(self.engine, action_id)
        if doc is None:
            raise NotFound(f"action {action_id} not found", code="ERR_ACTION_NOTFOUND")
        return doc

    def _put(self, doc: dict[str, Any]) -> None:
        """Make a stored document current: memory, channel, executor."""
        action_id = int(doc["id"])
        if doc["state"] in FINAL_STATES:
            self._open.pop(action_id, None)
        else:
            self._open[action_id] = doc
        self.live.hub.mark(ACTIONS_CHANNEL, str(action_id))
        if doc["state"] == READY:
            self._offer(doc)

    def _offer(self, doc: dict[str, Any]) -> None:
        executor = self.on_ready
        action_id = int(doc["id"])
        if executor is None or not self._started or action_id in self._offering:
            return
        self._offering.add(action_id)
        # A task, not an await: the executor calls back into the service (which holds the
        # lock while offering) to start the action.
        task = asyncio.create_task(self._run_offer(executor, doc), name=f"action-{doc['id']}")
        self._offers.add(task)
        task.add_done_callback(self._offers.discard)

    async def _run_offer(self, executor: Executor, doc: dict[str, Any]) -> None:
        try:
            await executor(doc)
        except Exception:
            # The action stays ready; it is offered again at the next start.
            log.exception("executor failed on action %s; it stays ready", doc["id"])
        finally:
            self._offering.discard(int(doc["id"]))


def _require_writer(principal: Principal) -> None:
    """Pushing needs a person with write permission on at least some type."""
    if principal.kind != "user" or not any("w" in p.partition(":")[2] for p in principal.perms()):
        raise machine.ActionDenied("this caller may not push actions")


def _action_id(value: Any) -> int:
    # Ids are BIGINT in the store: anything beyond is no action (and must not reach SQL).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise BadRequest("id must be an action id (integer)", code="ERR_ACTION_ID_INVALID")
    return value


def _action_ids(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_BATCH:
        raise BadRequest(
            f"ids must be an array of at most {MAX_BATCH} action ids", code="ERR_ACTION_ID_INVALID"
        )
    return [_action_id(v) for v in value]


def _check_query(q: Any) -> tuple[str, dict[str, int], int, Any, dict[str, Any]]:
    """(state, created-at bounds, limit, Mongo query, fields) of one queryActions entry."""
    if not isinstance(q, dict):
        raise BadRequest("each query must be an object", code="ERR_PAYLOAD_INVALID")
    state = q.get("type")
    if state not in STATES:
        raise BadRequest(f"type must be one of {', '.join(STATES)}", code="ERR_TYPE_INVALID")
    filt = q.get("filter") or {}
    if not isinstance(filt, dict) or any(k not in _FILTER_KEYS for k in filt):
        raise BadRequest("filter takes gt, gte, lt, lte", code="ERR_FILTER_INVALID")
    bounds: dict[str, int] = {}
    for key, value in filt.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"filter.{key} must be a timestamp in ms", code="ERR_FILTER_INVALID")
        bounds[key] = value
    opts = q.get("opts") or {}
    if not isinstance(opts, dict):
        raise BadRequest("opts must be an object", code="ERR_PAYLOAD_INVALID")
    limit = opts.get("limit", DEFAULT_QUERY_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_QUERY_LIMIT:
        raise BadRequest(f"limit is 1 to {MAX_QUERY_LIMIT}", code="ERR_LIMIT_INVALID")
    query = q.get("query")
    if query is not None:
        compile_query(query)  # ERR_QUERY_INVALID before anything is read
    fields = q.get("fields") or {}
    if not isinstance(fields, dict):
        raise BadRequest("fields must be an object", code="ERR_FIELDS_INVALID")
    return str(state), bounds, limit, query, fields


def _group(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Actions grouped by batch UID, in order of first appearance.

    An action outside any batch is a group of its own (``batchActionUID`` null), so every
    entry has one shape. ``id`` is the batch's timestamp prefix as the seed shows it (the
    action's id for a lone action), a string.
    """
    groups: dict[str, dict[str, Any]] = {}
    for doc in docs:
        uid = doc.get("batchActionUID")
        key = f"b:{uid}" if uid else f"a:{doc['id']}"
        group = groups.get(key)
        if group is None:
            gid = str(uid).partition("-")[0] if uid else str(doc["id"])
            group = groups[key] = {"batchActionUID": uid, "id": gid, "actions": []}
        group["actions"].append(doc)
    return list(groups.values())


def _busy(action_id: int) -> Conflict:
    return Conflict(
        f"action {action_id} kept changing on other servers; try again", code="ERR_ACTION_BUSY"
    )
