"""Typed request bodies of the RPC methods, as the seeds define them (for OpenAPI too)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    # The seeds' bodies carry extra fields (user, comment, actionId…); keep them.
    model_config = ConfigDict(extra="allow")


class PingRequest(_Body):
    """ping: any body, echoed back."""


class EmptyRequest(_Body):
    """A method without parameters."""


class RegisterThingRequest(_Body):
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


class UpdateThingRequest(_Body):
    """updateThing."""

    id: str
    opts: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    tags: list[str] | None = None
    forceOverwrite: bool | None = None
    comment: str | None = None
    actionId: str | None = None


class ListThingsRequest(_Body):
    """listThings."""

    query: dict[str, Any] | None = None
    fields: dict[str, Any] | None = None
    sort: dict[str, int] | None = None
    offset: int | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=0)
    status: bool | int | None = None


class ForgetThingsRequest(_Body):
    """forgetThings."""

    ids: list[str] | None = None
    query: dict[str, Any] | None = None
    all: bool | None = None


class RegisterRackRequest(_Body):
    """registerRack."""

    id: Any = None
    type: Any = None
    info: dict[str, Any] | None = None


class ListRacksRequest(_Body):
    """listRacks."""

    type: str | None = None
    keys: bool | int | None = None


class ForgetRacksRequest(_Body):
    """forgetRacks."""

    ids: list[str] | None = None
    all: bool | None = None
