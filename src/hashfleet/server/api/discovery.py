"""Discovery from the dashboard: scan address ranges from the server's host.

``POST /api/scan`` streams NDJSON: one ``progress`` line per address as it finishes (with
the device when one answered), then a ``done`` line. Each device says whether its address
is already registered, so the page offers only new ones. Scanning makes the server open
connections to the addresses asked for, so only people who may write can start one, a
session cookie counts only from this site's own pages (api/csrf.py), and a scan is capped
in size.
Remote sites scan from their agent's host with ``hashfleet scan``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from hashfleet.agent.discovery import expand, scan
from hashfleet.core.errors import BadRequest
from hashfleet.drivers.identify import Identity
from hashfleet.drivers.registry import thing_type
from hashfleet.server.api.deps import get_state, writer_principal
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState

router = APIRouter(prefix="/api", tags=["discovery"])

MAX_WEB_SCAN = 4096  # addresses per scan started from the dashboard


class ScanRequest(BaseModel):
    """What to scan."""

    model_config = ConfigDict(extra="forbid")

    targets: list[str] = Field(..., min_length=1, max_length=64)
    concurrency: int = Field(128, ge=1, le=1024)
    timeout: float = Field(2.0, gt=0, le=30)


@router.post(
    "/scan",
    summary="Scan address ranges for miners (NDJSON stream of progress and finds)",
    response_class=StreamingResponse,
)
async def start_scan(
    req: ScanRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(writer_principal),
) -> StreamingResponse:
    """Probe every address; stream ``{"type": "progress"|"done", …}`` lines."""
    try:
        addresses = expand(req.targets, MAX_WEB_SCAN)
    except ValueError as exc:
        raise BadRequest(str(exc), code="ERR_SCAN_TARGETS_INVALID") from exc
    known = {
        str((doc.get("opts") or {}).get("address")): doc["id"] for doc in state.live.things.values()
    }
    return StreamingResponse(
        _stream(addresses, known, req.concurrency, req.timeout),
        media_type="application/x-ndjson",
    )


async def _stream(
    addresses: list[str], known: dict[str, str], concurrency: int, timeout: float
) -> AsyncIterator[bytes]:
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    done = 0
    found = 0

    def on_result(address: str, result: Identity | None) -> None:
        nonlocal done, found
        done += 1
        line: dict[str, Any] = {"type": "progress", "done": done, "total": len(addresses)}
        if result is not None:
            found += 1
            line["device"] = {**msgspec.to_builtins(result), "opts": result.opts(),
                              "type": thing_type(result.family),
                              "known": known.get(address)}  # fmt: skip
        lines.put_nowait(msgspec.json.encode(line) + b"\n")

    async def run() -> None:
        try:
            await scan(addresses, concurrency=concurrency, timeout=timeout, on_result=on_result)
        finally:
            lines.put_nowait(None)

    task = asyncio.create_task(run())
    try:
        while (line := await lines.get()) is not None:
            yield line
        await task
        yield msgspec.json.encode({"type": "done", "scanned": done, "found": found}) + b"\n"
    finally:
        task.cancel()  # the page went away: stop probing
