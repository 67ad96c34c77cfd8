"""Typed request bodies of the RPC methods, as the seeds define them (for OpenAPI too)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RpcBody(BaseModel):
    """Base of RPC request bodies: extra fields are kept.

    The seeds' bodies carry extra fields (``user``, ``comment``, ``authPerms``…). Bodies of
    the later RPCs type their fields loosely (``Any``) on purpose: bad values get that RPC's
    own ``ERR_*`` code from its checks, not a generic validation error.
    """

    model_config = ConfigDict(extra="allow")


def body_of(req: BaseModel) -> dict[str, Any]:
    """The fields a caller actually sent, as a plain dict."""
    data: dict[str, Any] = req.model_dump(exclude_unset=True)
    return data


class PingRequest(RpcBody):
    """ping: any body, echoed back."""


class EmptyRequest(RpcBody):
    """A method without parameters."""


class RegisterThingRequest(RpcBody):
    """registerThing."""

    id: str | None = None
    code: str | None = None
    type: str | None = None
    rack: str | None = Field(None, description="rack id; `rackId` is accepted too")
    rackId: str | None = None
    opts: dict[str, Any] = Field(description="how to reach the device: family, address, port…")
    info: dict[str, Any] | None = None
    tags: list[str] | None = None
    comment: str | None = None


class UpdateThingRequest(RpcBody):
    """updateThing."""

    id: str
    opts: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    tags: list[str] | None = None
    forceOverwrite: bool | None = None
    comment: str | None = None
    actionId: str | None = None


class ListThingsRequest(RpcBody):
    """listThings."""

    query: dict[str, Any] | None = None
    fields: dict[str, Any] | None = None
    sort: dict[str, int] | None = None
    offset: int | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=0)
    status: bool | int | None = None


class ForgetThingsRequest(RpcBody):
    """forgetThings."""

    ids: list[str] | None = None
    query: dict[str, Any] | None = None
    all: bool | None = None


class RegisterRackRequest(RpcBody):
    """registerRack."""

    id: Any = None
    type: Any = None
    info: dict[str, Any] | None = None


class ListRacksRequest(RpcBody):
    """listRacks."""

    type: str | None = None
    keys: bool | int | None = None


class ForgetRacksRequest(RpcBody):
    """forgetRacks."""

    ids: list[str] | None = None
    all: bool | None = None
