"""``GET /ws``: live channels over a WebSocket.

Client → server: ``{"id": 1, "type": "subscribe", "channel": "fleet"}`` (or
``unsubscribe``). Server → client: ``{"id", "type": "snapshot", "channel", "data"}`` first,
then ``{"type": "diff", "channel", "data"}`` at most once per throttle interval, and
``{"id", "type": "error", "error": "ERR_…", "message"}`` for a bad request.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hashfleet.server.api.deps import ws_principal
from hashfleet.server.live.channels import Subscriber
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.state import ServerState
from hashfleet.wire.codec import json_dumps_str, json_loads

router = APIRouter(tags=["live"])

MAX_CHANNELS = 64


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """Serve one dashboard connection."""
    principal = await ws_principal(ws)
    # Accept before refusing: a browser sees a close code (4401), not an opaque failure.
    await ws.accept()
    if principal is None or principal.kind != "user":
        await ws.close(code=4401, reason="ERR_AUTH_REQUIRED")
        return
    state: ServerState = ws.app.state.hashfleet
    sub = Subscriber()
    sender = asyncio.create_task(_send_loop(ws, sub))
    try:
        while True:
            raw = await ws.receive_text()
            _handle(state.live, sub, raw)
    except WebSocketDisconnect:
        pass
    finally:
        state.live.hub.drop(sub)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender


async def _send_loop(ws: WebSocket, sub: Subscriber) -> None:
    while True:
        message = await sub.queue.get()
        await ws.send_text(message)


def _error(sub: Subscriber, request_id: Any, code: str, message: str) -> None:
    sub.queue.put_nowait(
        json_dumps_str({"id": request_id, "type": "error", "error": code, "message": message})
    )


def _handle(live: LiveIndex, sub: Subscriber, raw: str) -> None:
    try:
        msg = json_loads(raw)
    except msgspec.DecodeError:
        _error(sub, None, "ERR_PAYLOAD_INVALID", "messages are JSON objects")
        return
    if not isinstance(msg, dict):
        _error(sub, None, "ERR_PAYLOAD_INVALID", "messages are JSON objects")
        return
    request_id = msg.get("id")
    kind = msg.get("type")
    channel = msg.get("channel")
    if kind not in ("subscribe", "unsubscribe"):
        _error(sub, request_id, "ERR_PAYLOAD_INVALID", "type is subscribe or unsubscribe")
        return
    if not isinstance(channel, str) or not LiveIndex.valid_channel(channel):
        _error(sub, request_id, "ERR_CHANNEL_INVALID", "unknown channel")
        return
    if kind == "subscribe":
        if len(sub.channels) >= MAX_CHANNELS and channel not in sub.channels:
            _error(sub, request_id, "ERR_CHANNEL_LIMIT", f"at most {MAX_CHANNELS} channels")
            return
        live.hub.subscribe(sub, channel, request_id)
    else:
        live.hub.unsubscribe(sub, channel)
        sub.queue.put_nowait(json_dumps_str({"id": request_id, "type": "ack"}))
