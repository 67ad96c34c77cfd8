"""SiteSettings: getGlobalConfig, setGlobalConfig, getWrkConf, getThingConf,
getWrkSettings and saveWrkSettings over the ``kv`` table.

Stored keys (docs/SETTINGS.md):

- ``globalConfig``: the whole global config, complete (defaults filled in).
- ``wrkSettings:<rackId>`` (``wrkSettings#<sha256 of the id>`` for ids too long for the
  128-character key): ``{"rackId", "rackCreatedAt", "entries"}``. ``rackCreatedAt`` ties
  the settings to one registration of the rack: forgetting a rack cannot delete its kv
  row (the registry knows nothing of settings), so a rack registered again under the same
  id starts with empty settings instead of inheriting the old ones.

The global config is read from memory (loaded at start, written through on every change);
one lock serialises the read-modify-write of every setting, so two concurrent saves never
lose each other's keys. With several servers on one store, a change is announced
(``settings`` notice) and the others reload it; a change starts from the stored config,
not this server's copy, so it keeps what another server saved.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import BadRequest, Forbidden
from hashfleet.core.ids import valid_code
from hashfleet.server.audit.redact import redact
from hashfleet.server.auth.principal import Principal
from hashfleet.server.bus.base import Announce
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.live.packed import unpack
from hashfleet.server.query.paths import project
from hashfleet.server.settings.config import (
    apply_global_patch,
    check_entries,
    merge_entries,
    normalize_global_config,
)
from hashfleet.server.store import kv
from hashfleet.server.store import racks as rack_store
from hashfleet.server.store.tables import racks

GLOBAL_CONFIG_KEY = "globalConfig"
WRK_SETTINGS_PREFIX = "wrkSettings:"
_HASHED_PREFIX = "wrkSettings#"  # '#' is not allowed in rack ids: no clash with the above
_KV_KEY_MAX = 128  # the width of kv.key
SETTINGS_NOTICE = "settings"


def wrk_settings_key(rack_id: str) -> str:
    """The kv key of a rack's settings."""
    key = WRK_SETTINGS_PREFIX + rack_id
    if len(key) <= _KV_KEY_MAX:
        return key
    return _HASHED_PREFIX + hashlib.sha256(rack_id.encode()).hexdigest()


def redact_opts(value: Any) -> Any:
    """A thing's opts or a rack's info as shown to people: secrets replaced by ``***``.

    The audit log's rule (``password``, ``pass``, ``token``, ``key``… and passwords in
    URLs), so what the API shows and what the log keeps agree.
    """
    return redact(value)


class SiteSettings:
    """The global config and per-rack settings of one server."""

    def __init__(
        self,
        engine: AsyncEngine,
        live: LiveIndex,
        *,
        poll_interval_s: float = 5.0,
        stale_s: float = 60.0,
    ) -> None:
        self.engine = engine
        self.live = live
        self.poll_interval_s = poll_interval_s
        self.stale_s = stale_s
        self._global: dict[str, Any] = normalize_global_config(None)
        self._lock = asyncio.Lock()
        # Set when other servers share the store (see the module docstring).
        self.announce: Announce | None = None

    async def load(self) -> None:
        """Read the global config from the store (defaults when none was saved)."""
        self._global = normalize_global_config(await kv.get_value(self.engine, GLOBAL_CONFIG_KEY))

    # -- global config --------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The current global config (a copy: callers may change it)."""
        return copy.deepcopy(self._global)

    def global_config(self, fields: Any = None) -> dict[str, Any]:
        """getGlobalConfig: the config, projected by ``fields`` when given."""
        if fields is not None and not isinstance(fields, dict):
            raise BadRequest("fields must be an object", code="ERR_FIELDS_INVALID")
        return project(self.config, fields) if fields else self.config

    async def set_global_config(self, patch: Any) -> dict[str, Any]:
        """setGlobalConfig: check, store, then make current; returns the new config."""
        if not isinstance(patch, dict):
            raise BadRequest("the body must be an object", code="ERR_PAYLOAD_INVALID")
        async with self._lock:
            if self.announce is not None:
                await self.load()  # another server may have changed it since
            new = apply_global_patch(self._global, patch)
            if new != self._global:
                await kv.set_value(self.engine, GLOBAL_CONFIG_KEY, new)
                self._global = new
                if self.announce is not None:
                    await self.announce(SETTINGS_NOTICE, {"key": GLOBAL_CONFIG_KEY})
        return self.config

    async def on_notice(self, data: dict[str, Any]) -> None:
        """A ``settings`` notice from another server: reload the global config."""
        async with self._lock:
            await self.load()

    # -- racks and things -----------------------------------------------------------------

    async def wrk_conf(self, principal: Principal, rack_type: Any) -> list[dict[str, Any]]:
        """getWrkConf: ``[{rackId, config}]`` for the racks of a type the caller may read.

        ``config`` = the rack's type and info (secrets redacted, no ``rpcPublicKey``) and
        the server-side agent settings every agent of the rack gets.
        """
        wanted = _type_arg(rack_type)
        out = []
        for rack in await rack_store.list_racks(self.engine):
            rtype = str(rack["type"])
            if not rtype.startswith(wanted) or not principal.can(rtype, "r"):
                continue
            info = {k: v for k, v in (rack["info"] or {}).items() if k != "rpcPublicKey"}
            config = {
                "type": rtype,
                "info": redact_opts(info),
                "agent": {"pollIntervalS": self.poll_interval_s, "staleS": self.stale_s},
                "createdAt": rack["created_at"],
            }
            out.append({"rackId": rack["id"], "config": config})
        return out

    async def thing_conf(self, principal: Principal, thing_type: Any) -> list[dict[str, Any]]:
        """getThingConf: ``[{rackId, requestValue}]``, the opts of each rack's things.

        ``requestValue`` maps thing id → ``{code, type, opts}`` (opts redacted) for the
        things of the type (prefix, as listRacks) the caller may read; racks with none
        are left out.
        """
        wanted = _type_arg(thing_type)
        per_rack: dict[str, dict[str, Any]] = {}
        for doc in self.live.things.values():
            ttype = str(doc.get("type"))
            rack_id = doc.get("rack")
            if not rack_id or not ttype.startswith(wanted) or not principal.can(ttype, "r"):
                continue
            per_rack.setdefault(str(rack_id), {})[str(doc["id"])] = {
                "code": doc.get("code"),
                "type": ttype,
                "opts": redact_opts(unpack(doc.get("opts")) or {}),
            }
        order = [r["id"] for r in await rack_store.list_racks(self.engine)]
        return [{"rackId": r, "requestValue": per_rack[r]} for r in order if r in per_rack]

    async def wrk_settings(self, principal: Principal, rack_id: Any) -> dict[str, Any]:
        """getWrkSettings: the rack's saved settings (``{}`` when none)."""
        rack = await self._rack(rack_id)
        if not principal.can(str(rack["type"]), "r"):
            raise Forbidden("you may not read this rack's type", code="ERR_ACTION_DENIED")
        return await self._entries(rack)

    async def save_wrk_settings(self, principal: Principal, rack_id: Any, entries: Any) -> int:
        """saveWrkSettings: merge ``entries`` into the rack's settings; returns 1."""
        rack = await self._rack(rack_id)
        if not principal.can(str(rack["type"]), "w"):
            raise Forbidden("you may not write this rack's type", code="ERR_ACTION_DENIED")
        checked = check_entries(entries)
        async with self._lock:
            merged = merge_entries(await self._entries(rack), checked)
            value = {"rackId": rack["id"], "rackCreatedAt": rack["created_at"], "entries": merged}
            await kv.set_value(self.engine, wrk_settings_key(str(rack["id"])), value)
        return 1

    async def _rack(self, rack_id: Any) -> dict[str, Any]:
        # Only well-formed ids reach SQL (PostgreSQL refuses NUL characters in text).
        if not isinstance(rack_id, str) or not valid_code(rack_id):
            raise BadRequest("rackId must name a rack", code="ERR_RACK_ID_INVALID")
        # The store's row, not the registry's copy: its created_at is the one that survives
        # a restart, and it is what ties the settings to this registration of the rack.
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(racks.c.id, racks.c.type, racks.c.created_at).where(
                        racks.c.id == rack_id
                    )
                )
            ).first()
        if row is None:
            raise BadRequest(f"no rack {rack_id!r}", code="ERR_RACK_ID_INVALID")
        return dict(row._mapping)

    async def _entries(self, rack: dict[str, Any]) -> dict[str, Any]:
        stored = await kv.get_value(self.engine, wrk_settings_key(str(rack["id"])))
        if (
            not isinstance(stored, dict)
            or stored.get("rackId") != rack["id"]
            or stored.get("rackCreatedAt") != rack["created_at"]
            or not isinstance(stored.get("entries"), dict)
        ):
            return {}
        entries: dict[str, Any] = stored["entries"]
        return entries


def _type_arg(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("type must be a non-empty string", code="ERR_TYPE_INVALID")
    return value
