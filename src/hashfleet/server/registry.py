"""Things and racks: the registry behind registerThing, listThings, registerRack, …

Writes go to the store first, then to the live index, which answers every read. With
several servers on one store, each write is announced (``registry`` notice with the ids
of the things and racks changed) and the other servers reload those rows from the store
(:meth:`Registry.reload`); :meth:`Registry.resync` repairs a missed notice.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import BadRequest, Conflict, NotFound
from hashfleet.core.ids import new_id, valid_code
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.registry import create_driver
from hashfleet.server.bus.base import Announce
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.paths import project
from hashfleet.server.query.sort import sort_docs
from hashfleet.server.store import changes as change_store
from hashfleet.server.store import racks as rack_store
from hashfleet.server.store import things as thing_store
from hashfleet.server.store.tables import racks as racks_table
from hashfleet.server.store.tables import things as things_table

log = logging.getLogger(__name__)

REGISTRY_NOTICE = "registry"
_THING_COLUMNS = (
    "id",
    "code",
    "type",
    "rack_id",
    "tags",
    "info",
    "opts",
    "created_at",
    "updated_at",
)
MAX_LIMIT = 100_000
DEFAULT_LIMIT = 100


def doc_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A store row → the thing document the API and the live index use."""
    return {
        "id": row["id"],
        "code": row["code"],
        "type": row["type"],
        "rack": row["rack_id"],
        "tags": row["tags"],
        "info": row["info"],
        "opts": row["opts"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        **({"last": row["last"]} if "last" in row else {}),
    }


def default_tags(thing_type: str, thing_id: str, code: str, rack: str) -> list[str]:
    """The tags every thing carries, so queries can select by type, rack, id or code."""
    return [f"t-{thing_type}", f"rack-{rack}", f"id-{thing_id}", f"code-{code}"]


class Registry:
    """Thing and rack registry over the store and the live index."""

    def __init__(self, engine: AsyncEngine, live: LiveIndex) -> None:
        self.engine = engine
        self.live = live
        self._racks: dict[str, dict[str, Any]] = {}
        # Set when other servers share the store: tells them what this one changed.
        self.announce: Announce | None = None
        self.reloads = 0

    async def load(self) -> None:
        """Read racks and things from the store into memory."""
        self._racks = {r["id"]: r for r in await rack_store.list_racks(self.engine)}
        async for rows in thing_store.iter_things(self.engine, raw_snap=True):
            self.live.load(doc_from_row(r) for r in rows)

    # -- racks ----------------------------------------------------------------------------

    async def register_rack(self, rack_id: Any, rack_type: Any, info: Any) -> int:
        """registerRack: a new rack of a type; returns 1."""
        if not isinstance(rack_id, str) or not valid_code(rack_id):
            raise BadRequest("rack id must be a short identifier", code="ERR_RACK_ID_INVALID")
        if not isinstance(rack_type, str) or not valid_code(rack_type):
            raise BadRequest("rack type must be a short identifier", code="ERR_RACK_TYPE_INVALID")
        if info is None:
            info = {}
        if not isinstance(info, dict):
            raise BadRequest("rack info must be an object", code="ERR_RACK_INFO_INVALID")
        await rack_store.insert_rack(self.engine, rack_id, rack_type, info)
        self._racks[rack_id] = {
            "id": rack_id,
            "type": rack_type,
            "info": info,
            "created_at": now_ms(),
        }
        await self._announce(racks=[rack_id])
        return 1

    def rack(self, rack_id: str) -> dict[str, Any] | None:
        """The rack named ``rack_id``."""
        return self._racks.get(rack_id)

    def list_racks(self, rack_type: Any = None, keys: Any = None) -> list[dict[str, Any]]:
        """listRacks: racks whose type starts with ``rack_type``; keys hidden unless asked."""
        if rack_type is not None and not isinstance(rack_type, str):
            raise BadRequest("type must be a string", code="ERR_TYPE_INVALID")
        out = []
        for rack in self._racks.values():
            if rack_type and not str(rack["type"]).startswith(rack_type):
                continue
            info = dict(rack["info"])
            if not keys:
                info.pop("rpcPublicKey", None)
            things = sum(1 for d in self.live.things.values() if d.get("rack") == rack["id"])
            out.append({"id": rack["id"], "type": rack["type"], "info": info, "things": things})
        return out

    async def forget_racks(self, ids: Any = None, all_: Any = None) -> int:
        """forgetRacks: remove racks by id, or all; their things stay, unassigned."""
        if all_:
            target = None
        elif isinstance(ids, list) and all(isinstance(i, str) for i in ids):
            target = ids
        else:
            raise BadRequest("give ids (array of strings) or all: true", code="ERR_KEYS_INVALID")
        removed = await rack_store.delete_racks(self.engine, target)
        gone = list(self._racks) if target is None else target
        for rack_id in gone:
            self._drop_rack(rack_id)
        await self._announce(racks=gone)
        return removed

    def _drop_rack(self, rack_id: str) -> None:
        self._racks.pop(rack_id, None)
        for doc in list(self.live.things.values()):
            if doc.get("rack") == rack_id:
                self.live.put_thing({**doc, "rack": None})

    # -- things ---------------------------------------------------------------------------

    async def register_things(
        self, reqs: list[dict[str, Any]], *, user: str | None = None
    ) -> list[str]:
        """Register several things in one transaction; returns their ids.

        Each gets a ``register`` row in the change log, by ``user``.
        """
        now = now_ms()
        rows = []
        seen_ids: set[str] = set()
        seen_codes: set[str] = set()
        codes_in_use = {d["code"] for d in self.live.things.values()}
        for req in reqs:
            row = self._new_thing_row(req, now)
            if row["id"] in self.live.things or row["id"] in seen_ids:
                raise Conflict(
                    f"thing {row['id']!r} already exists", code="ERR_THING_WITH_ID_ALREADY_EXISTS"
                )
            if row["code"] in codes_in_use or row["code"] in seen_codes:
                raise Conflict(
                    f"a thing with code {row['code']!r} already exists",
                    code="ERR_THING_WITH_CODE_ALREADY_EXISTS",
                )
            seen_ids.add(row["id"])
            seen_codes.add(row["code"])
            rows.append(row)
        changes = [
            change_store.change_row(
                row["id"],
                now,
                change_store.REGISTER,
                change_store.thing_diff({}, row),
                user,
                _comment(req),
            )
            for row, req in zip(rows, reqs, strict=True)
        ]
        await thing_store.insert_things(self.engine, rows, changes)
        for row in rows:
            self.live.put_thing(doc_from_row({**row, "last": None}))
        await self._announce(things=[r["id"] for r in rows])
        return [r["id"] for r in rows]

    def _new_thing_row(self, req: dict[str, Any], now: int) -> dict[str, Any]:
        rack_id = req.get("rack") or req.get("rackId")
        if not isinstance(rack_id, str) or rack_id not in self._racks:
            raise BadRequest("rack must name a registered rack", code="ERR_RACK_ID_INVALID")
        thing_id = req.get("id") or new_id()
        if not isinstance(thing_id, str) or not valid_code(thing_id):
            raise BadRequest("id must be a short identifier", code="ERR_THING_ID_INVALID")
        code = req.get("code") or f"{self._racks[rack_id]['type']}-{thing_id[:8]}"
        if not isinstance(code, str) or not valid_code(code):
            raise BadRequest("code must be a short identifier", code="ERR_THING_CODE_INVALID")
        thing_type = req.get("type") or self._racks[rack_id]["type"]
        if not isinstance(thing_type, str) or not valid_code(thing_type):
            raise BadRequest("type must be a short identifier", code="ERR_TYPE_INVALID")
        opts = req.get("opts")
        if not isinstance(opts, dict) or not opts:
            raise BadRequest(
                "opts (how to reach the device) are required", code="ERR_THING_OPTS_INVALID"
            )
        check_opts(opts)
        info = req.get("info") or {}
        tags = req.get("tags") or []
        if not isinstance(info, dict):
            raise BadRequest("info must be an object", code="ERR_THING_INFO_INVALID")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadRequest("tags must be an array of strings", code="ERR_THING_TAGS_INVALID")
        all_tags = default_tags(thing_type, thing_id, code, rack_id)
        all_tags += [t for t in tags if t not in all_tags]
        return {
            "id": thing_id,
            "code": code,
            "type": thing_type,
            "rack_id": rack_id,
            "tags": all_tags,
            "info": info,
            "opts": opts,
            "created_at": now,
            "updated_at": now,
        }

    async def update_thing(self, req: dict[str, Any], *, user: str | None = None) -> int:
        """updateThing: merge (or with forceOverwrite replace) opts, info and tags.

        A real change gets an ``update`` row in the change log, by ``user``; an update that
        changes nothing writes nothing.
        """
        thing_id = req.get("id")
        if not isinstance(thing_id, str):
            raise BadRequest("id is required", code="ERR_THING_ID_INVALID")
        doc = self.live.things.get(thing_id)
        if doc is None:
            raise NotFound(f"thing {thing_id!r} not found", code="ERR_THING_NOTFOUND")
        force = bool(req.get("forceOverwrite"))
        values: dict[str, Any] = {}
        for key in ("opts", "info"):
            if key in req and req[key] is not None:
                if not isinstance(req[key], dict):
                    raise BadRequest(f"{key} must be an object", code="ERR_PAYLOAD_INVALID")
                values[key] = dict(req[key]) if force else {**doc[key], **req[key]}
        if "opts" in values:
            check_opts(values["opts"])
        if "tags" in req and req["tags"] is not None:
            tags = req["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise BadRequest("tags must be an array of strings", code="ERR_THING_TAGS_INVALID")
            base = default_tags(doc["type"], doc["id"], doc["code"], doc["rack"] or "")
            kept = base if force else doc["tags"]
            values["tags"] = kept + [t for t in tags if t not in kept]
        diff = change_store.thing_diff(doc, {**doc, **values})
        if not diff:
            return 1
        values["updated_at"] = now_ms()
        change = change_store.change_row(
            thing_id, values["updated_at"], change_store.UPDATE, diff, user, _comment(req)
        )
        await thing_store.update_thing(self.engine, thing_id, values, [change])
        self.live.put_thing({**doc, **values})
        await self._announce(things=[thing_id])
        return 1

    def list_things(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """listThings over the live index: query, sort, offset, limit, fields, status."""
        docs = self.select(req.get("query"), req.get("sort"), req.get("offset"), req.get("limit"))
        fields = req.get("fields")
        if fields is not None and not isinstance(fields, dict):
            raise BadRequest("fields must be an object", code="ERR_FIELDS_INVALID")
        with_status = bool(req.get("status"))
        out = []
        for doc in docs:
            if fields:
                out.append(project(doc, fields))
            elif with_status:
                out.append(doc)
            else:
                out.append({k: v for k, v in doc.items() if k != "last"})
        return out

    def select(
        self, query: Any, sort: Any = None, offset: Any = None, limit: Any = None
    ) -> list[dict[str, Any]]:
        """Things matching a Mongo-style query, sorted and paginated."""
        off = _int_arg(offset, "offset", 0)
        lim = _int_arg(limit, "limit", DEFAULT_LIMIT)
        if lim > MAX_LIMIT:
            raise BadRequest(f"limit is at most {MAX_LIMIT}", code="ERR_LIMIT_INVALID")
        pred = compile_query(query)
        want = off + lim
        ordered = (
            self.live.sorted_things(sort, query) if sort else self.live.candidates(query, want)
        )
        if ordered is not None:
            # In order already (index order, or a sorted view): the first ``want`` matches
            # are all that is needed.
            if lim == 0:
                return []
            docs = []
            for d in ordered:
                if pred(d):
                    docs.append(d)
                    if len(docs) == want:
                        break
            return docs[off:]
        docs = [d for d in self.live.candidates(query) if pred(d)]
        docs = sort_docs(docs, sort, limit=want)
        return docs[off : off + lim]

    async def forget_things(self, req: dict[str, Any], *, user: str | None = None) -> int:
        """forgetThings: by ids, by query, or all; returns how many were removed.

        Each gets a ``forget`` row in the change log, by ``user``, with what it was.
        """
        if req.get("all"):
            ids = list(self.live.things)
        elif req.get("ids") is not None:
            ids = req["ids"]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise BadRequest("ids must be an array of strings", code="ERR_KEYS_INVALID")
            ids = [i for i in ids if i in self.live.things]
        elif req.get("query") is not None:
            pred = compile_query(req["query"])
            ids = [i for i, d in self.live.things.items() if pred(d)]
        else:
            raise BadRequest("give ids, query or all: true", code="ERR_QUERY_INVALID")
        now = now_ms()
        # What each thing was, logged in the same transaction as its removal.
        changes = [
            change_store.change_row(
                thing_id, now, change_store.FORGET, change_store.thing_diff(doc, {}), user,
                _comment(req),
            )
            for thing_id in ids
            if (doc := self.live.things.get(thing_id)) is not None
        ]  # fmt: skip
        removed = await thing_store.delete_things(self.engine, ids, changes)
        for thing_id in ids:
            self.live.remove_thing(thing_id)
        await self._announce(things=list(ids))
        return removed

    # -- several servers ------------------------------------------------------------------

    async def _announce(
        self, *, things: list[str] | None = None, racks: list[str] | None = None
    ) -> None:
        if self.announce is None or not (things or racks):
            return
        try:
            await self.announce(REGISTRY_NOTICE, {"things": things or [], "racks": racks or []})
        except Exception:
            log.exception("registry notice failed")

    async def on_notice(self, data: dict[str, Any]) -> None:
        """A ``registry`` notice from another server: reload what it names."""
        things = [t for t in data.get("things") or [] if isinstance(t, str)]
        racks = [r for r in data.get("racks") or [] if isinstance(r, str)]
        await self.reload(things, racks)

    async def reload(self, thing_ids: list[str], rack_ids: list[str]) -> int:
        """Bring these things and racks to what the store holds; returns things changed.

        A thing's registry fields come from the store; its latest snapshot stays the live
        index's (fed by ingest).
        """
        changed = 0
        if rack_ids:
            stored = {r["id"]: r for r in await rack_store.list_racks(self.engine)}
            for rack_id in rack_ids:
                if rack_id in stored:
                    self._racks[rack_id] = stored[rack_id]
                elif rack_id in self._racks:
                    self._drop_rack(rack_id)
        if thing_ids:
            wanted = set(thing_ids)
            rows: dict[str, dict[str, Any]] = {}
            async with self.engine.connect() as conn:
                ids = sorted(wanted)
                for start in range(0, len(ids), 1000):
                    result = await conn.execute(
                        select(*[things_table.c[c] for c in _THING_COLUMNS]).where(
                            things_table.c.id.in_(ids[start : start + 1000])
                        )
                    )
                    rows.update({str(r.id): dict(r._mapping) for r in result})
            for thing_id in wanted:
                row = rows.get(thing_id)
                if row is None:
                    if thing_id in self.live.things:
                        self.live.remove_thing(thing_id)
                        changed += 1
                    continue
                doc = doc_from_row(row)
                old = self.live.things.get(thing_id)
                if old is None or any(old.get(k) != v for k, v in doc.items()):
                    self.live.put_thing(doc)  # no "last": the index keeps the thing's snapshot
                    changed += 1
        self.reloads += 1
        return changed

    async def resync(self) -> int:
        """Reload everything when the store's registry differs from memory (a missed notice).

        Cheap when nothing was missed: one query for the counts and the latest change.
        """
        # The sum of updated_at too: a missed change of one thing behind a later change of
        # another leaves the count and the latest stamp equal, never the sum.
        async with self.engine.connect() as conn:
            n_things, last_update, sum_update = (
                await conn.execute(
                    select(
                        func.count(),
                        func.coalesce(func.max(things_table.c.updated_at), 0),
                        func.coalesce(func.sum(things_table.c.updated_at), 0),
                    )
                )
            ).one()
            n_racks = (await conn.execute(select(func.count()).select_from(racks_table))).scalar()
        stamps = [int(d.get("updated_at") or 0) for d in self.live.things.values()]
        if (int(n_things), int(last_update), int(sum_update), int(n_racks or 0)) == (
            len(self.live.things),
            max(stamps, default=0),
            sum(stamps),
            len(self._racks),
        ):
            return 0
        ids = set(self.live.things)
        async with self.engine.connect() as conn:
            ids |= {str(i) for (i,) in await conn.execute(select(things_table.c.id))}
        racks = set(self._racks) | {r["id"] for r in await rack_store.list_racks(self.engine)}
        log.info("registry differed from the store: reloaded")
        return await self.reload(sorted(ids), sorted(racks))

    def rack_things(self, rack_id: str) -> list[dict[str, Any]]:
        """The things an agent of ``rack_id`` polls."""
        return [d for d in self.live.things.values() if d.get("rack") == rack_id]


def check_opts(opts: dict[str, Any]) -> None:
    """Refuse opts no agent could poll: unknown family, missing address, wrong types."""
    create_driver(parse_options(opts))


def _comment(req: dict[str, Any]) -> str | None:
    """The request's optional ``comment`` (why the change was made), if it is text."""
    comment = req.get("comment")
    return comment if isinstance(comment, str) and comment else None


def _int_arg(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"{name} must be a non-negative integer", code="ERR_PAYLOAD_INVALID")
    return value
