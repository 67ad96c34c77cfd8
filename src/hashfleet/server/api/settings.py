"""Site settings over RPC: ``POST /rpc/getGlobalConfig``, ``setGlobalConfig``, ….

getGlobalConfig, setGlobalConfig, getWrkConf, getThingConf, getWrkSettings and
saveWrkSettings with the seed's bodies and answers (docs/SETTINGS.md). Unlike the seed,
everything is persisted (the ``kv`` table) and survives restarts.

Who may call: reads need a logged-in person (and read permission on the types they
show); setGlobalConfig needs an administrator (``403 ERR_ACTION_DENIED``);
saveWrkSettings a writer (``403 ERR_MISSING_WRITE_PERMISSIONS``) with write permission on
the rack's type (``403 ERR_ACTION_DENIED``). Every write is audit-logged by the
middleware, secrets redacted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from hashfleet.server.api.deps import admin_principal, get_state, user_principal, writer_principal
from hashfleet.server.api.rpc_models import RpcBody, body_of
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState

router = APIRouter(prefix="/rpc", tags=["settings"])


class GetGlobalConfigRequest(RpcBody):
    """getGlobalConfig: the global config, optionally projected."""

    fields: Any = Field(None, description='projection, e.g. {"isAutoSleepAllowed": 1}')


class SetGlobalConfigRequest(RpcBody):
    """setGlobalConfig: change some keys of the global config (administrators only).

    Only the keys below are accepted (``ERR_CONFIG_INVALID`` for any other).
    """

    nominalSiteHashrate_MHS: Any = Field(None, description="number ≥ 0")
    siteCapacityW: Any = Field(None, description="number ≥ 0")
    isAutoSleepAllowed: Any = Field(None, description="true or false")
    autoSleep: Any = Field(
        None,
        description="{maxSitePowerW, resumeBelowW, holdMinutes, query}, merged key by key; "
        "null resets it",
    )


class TypeRequest(RpcBody):
    """getWrkConf / getThingConf: by thing or rack type (prefix, as listRacks)."""

    type: Any = Field(None, description="e.g. miner")


class GetWrkSettingsRequest(RpcBody):
    """getWrkSettings: one rack's settings."""

    rackId: Any = Field(None, description="rack id")


class SaveWrkSettingsRequest(RpcBody):
    """saveWrkSettings: merge entries into one rack's settings (null removes a key)."""

    rackId: Any = Field(None, description="rack id")
    entries: Any = Field(None, description="object: 1 to 100 keys, at most 64 KB of JSON")


@router.post("/getGlobalConfig", summary="The global site config")
async def get_global_config(
    req: GetGlobalConfigRequest | None = None,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> dict[str, Any]:
    """getGlobalConfig."""
    return state.site_config.global_config(req.fields if req is not None else None)


@router.post("/setGlobalConfig", summary="Change the global site config (administrators)")
async def set_global_config(
    req: SetGlobalConfigRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(admin_principal),
) -> dict[str, Any]:
    """setGlobalConfig: returns the updated config."""
    return await state.site_config.set_global_config(body_of(req))


@router.post("/getWrkConf", summary="Racks of a type with their config")
async def get_wrk_conf(
    req: TypeRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(user_principal),
) -> list[dict[str, Any]]:
    """getWrkConf: ``[{rackId, config}]``."""
    return await state.site_config.wrk_conf(p, req.type)


@router.post("/getThingConf", summary="Things of a type per rack, with their opts")
async def get_thing_conf(
    req: TypeRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(user_principal),
) -> list[dict[str, Any]]:
    """getThingConf: ``[{rackId, requestValue}]``, secrets redacted."""
    return await state.site_config.thing_conf(p, req.type)


@router.post("/getWrkSettings", summary="One rack's saved settings")
async def get_wrk_settings(
    req: GetWrkSettingsRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(user_principal),
) -> dict[str, Any]:
    """getWrkSettings."""
    return await state.site_config.wrk_settings(p, req.rackId)


@router.post("/saveWrkSettings", summary="Merge entries into a rack's settings; returns 1")
async def save_wrk_settings(
    req: SaveWrkSettingsRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """saveWrkSettings."""
    return await state.site_config.save_wrk_settings(p, req.rackId, req.entries)
