"""Comments on things and the historical logs: ``POST /rpc/saveThingComment``, ….

- ``saveThingComment``, ``editThingComment``, ``deleteThingComment`` (the seed's "Thing
  Comments") and ``getThingComments`` (the dashboard's list of a thing's comments).
- ``getHistoricalLogs``: the change log of things (``info``) or closed alerts (``alerts``).

Comments are writes, as the seed says: they need a caller allowed to write (an operator or
an administrator with a read-write session or token), like registerThing. Viewers and
read-only tokens may read them. The author is always the caller (a ``user`` in the body is
ignored), only the author may edit a comment, and the author or an administrator may delete
it. Comments and changes of a forgotten thing stay readable: both are kept for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from hashfleet.core.errors import BadRequest, Forbidden, NotFound
from hashfleet.server.api.deps import get_state, user_principal, writer_principal
from hashfleet.server.api.rpc_models import RpcBody
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState
from hashfleet.server.store import changes as change_store
from hashfleet.server.store import comments as comment_store
from hashfleet.server.store.alerts import alert_history, count_alerts
from hashfleet.wire.codec import json_dumps

router = APIRouter(prefix="/rpc", tags=["history-logs"])

MAX_COMMENT_CHARS = 4000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# One SQL parameter per id: stays far below SQLite's and PostgreSQL's parameter limits.
MAX_THING_IDS = 1000
LOG_TYPES = ("info", "alerts")


class SaveThingCommentRequest(RpcBody):
    """saveThingComment: a new comment by the caller."""

    thingId: Any = Field(None, description="the thing commented on")
    comment: Any = Field(None, description=f"1 to {MAX_COMMENT_CHARS} characters")
    rackId: Any = Field(None, description="optional: the thing's rack, checked when given")


class EditThingCommentRequest(RpcBody):
    """editThingComment: new text for one of the caller's comments."""

    thingId: Any = None
    commentId: Any = None
    comment: Any = Field(None, description=f"1 to {MAX_COMMENT_CHARS} characters")


class DeleteThingCommentRequest(RpcBody):
    """deleteThingComment: remove a comment (its author, or an administrator)."""

    thingId: Any = None
    commentId: Any = None


class GetThingCommentsRequest(RpcBody):
    """getThingComments: a thing's comments, newest first."""

    thingId: Any = None
    offset: Any = Field(None, description="comments to skip (default 0)")
    limit: Any = Field(None, description=f"at most {MAX_LIMIT} (default {DEFAULT_LIMIT})")


class HistoricalLogsRequest(RpcBody):
    """getHistoricalLogs: changes of things (``info``) or closed alerts (``alerts``)."""

    logType: Any = Field(None, description="info | alerts")
    thingId: Any = Field(None, description="one thing")
    thingIds: Any = Field(None, description="several things")
    start: Any = Field(None, description="ms, inclusive (alerts: created at)")
    end: Any = Field(None, description="ms, inclusive")
    offset: Any = Field(None, description="entries to skip (default 0)")
    limit: Any = Field(None, description=f"at most {MAX_LIMIT} (default {DEFAULT_LIMIT})")
    sort: Any = Field(None, description='{"ts": -1} newest first (default) or {"ts": 1}')
    query: Any = Field(None, description="not supported: use thingId(s), start and end")


def _json(result: Any) -> Response:
    # Up to a thousand entries: encoded straight to bytes, not walked by jsonable_encoder.
    return Response(json_dumps(result), media_type="application/json")


# -- checks -------------------------------------------------------------------------------


def _thing_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("thingId must be a thing id", code="ERR_THING_ID_INVALID")
    return value


def _comment_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("commentId must be a comment id", code="ERR_COMMENT_ID_INVALID")
    return value


def _comment_text(value: Any) -> str:
    """The comment as stored: surrounding blanks dropped, 1 to 4,000 characters."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_COMMENT_CHARS:
        raise BadRequest(
            f"comment must be text of 1 to {MAX_COMMENT_CHARS} characters",
            code="ERR_COMMENT_INVALID",
        )
    return text


def _count(value: Any, default: int, name: str, minimum: int = 0) -> int:
    # Offset and limit share tailLog's code.
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequest(f"{name} must be an integer ≥ {minimum}", code="ERR_LIMIT_INVALID")
    return value


def _limit(value: Any) -> int:
    limit = _count(value, DEFAULT_LIMIT, "limit", minimum=1)
    if limit > MAX_LIMIT:
        raise BadRequest(f"limit is at most {MAX_LIMIT}", code="ERR_LIMIT_INVALID")
    return limit


def _ms(value: Any, name: str, code: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{name} must be a timestamp in ms", code=code)
    return value


async def _own_comment(state: ServerState, thing_id: str, comment_id: str) -> dict[str, Any]:
    comment = await comment_store.get_comment(state.engine, thing_id, comment_id)
    if comment is None:
        raise NotFound(f"comment {comment_id!r} not found", code="ERR_COMMENT_NOTFOUND")
    return comment


# -- comments -----------------------------------------------------------------------------


@router.post("/saveThingComment", summary="Comment on a thing as the caller; returns 1")
async def save_thing_comment(
    req: SaveThingCommentRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """saveThingComment."""
    thing_id = _thing_id(req.thingId)
    text = _comment_text(req.comment)
    doc = state.live.things.get(thing_id)
    # A rackId that is not the thing's rack names a thing that is not there.
    if doc is None or (req.rackId is not None and req.rackId != doc.get("rack")):
        raise NotFound(f"thing {thing_id!r} not found", code="ERR_THING_NOTFOUND")
    await comment_store.add_comment(state.engine, thing_id, p.name, text)
    return 1


@router.post("/editThingComment", summary="Change the text of one's comment; returns 1")
async def edit_thing_comment(
    req: EditThingCommentRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """editThingComment: only the author may edit."""
    thing_id = _thing_id(req.thingId)
    comment_id = _comment_id(req.commentId)
    text = _comment_text(req.comment)
    comment = await _own_comment(state, thing_id, comment_id)
    if comment["user"] != p.name:
        raise Forbidden("only its author may edit a comment", code="ERR_COMMENT_FORBIDDEN")
    if not await comment_store.edit_comment(state.engine, thing_id, comment_id, text):
        raise NotFound(f"comment {comment_id!r} not found", code="ERR_COMMENT_NOTFOUND")
    return 1


@router.post("/deleteThingComment", summary="Delete a comment (author or admin); returns 1")
async def delete_thing_comment(
    req: DeleteThingCommentRequest,
    state: ServerState = Depends(get_state),
    p: Principal = Depends(writer_principal),
) -> int:
    """deleteThingComment: the author, or an administrator, may delete."""
    thing_id = _thing_id(req.thingId)
    comment_id = _comment_id(req.commentId)
    comment = await _own_comment(state, thing_id, comment_id)
    if comment["user"] != p.name and not p.is_admin:
        raise Forbidden(
            "only its author or an administrator may delete a comment",
            code="ERR_COMMENT_FORBIDDEN",
        )
    if not await comment_store.delete_comment(state.engine, thing_id, comment_id):
        raise NotFound(f"comment {comment_id!r} not found", code="ERR_COMMENT_NOTFOUND")
    return 1


@router.post(
    "/getThingComments",
    summary="A thing's comments, newest first",
    response_model=list[dict[str, Any]],
)
async def get_thing_comments(
    req: GetThingCommentsRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """getThingComments: ``[{id, thingId, user, comment, createdAt, updatedAt}]``."""
    thing_id = _thing_id(req.thingId)
    offset = _count(req.offset, 0, "offset")
    limit = _limit(req.limit)
    return _json(
        await comment_store.list_comments(state.engine, thing_id, offset=offset, limit=limit)
    )


# -- historical logs ----------------------------------------------------------------------


@dataclass
class LogQuery:
    """A checked getHistoricalLogs request."""

    log_type: str
    thing_ids: list[str] | None
    start: int | None
    end: int | None
    offset: int
    limit: int
    newest_first: bool


def _thing_ids(one: Any, many: Any) -> list[str] | None:
    if one is None and many is None:
        return None
    ids: list[str] = [] if one is None else [_thing_id(one)]
    if many is not None:
        if not isinstance(many, list) or not all(isinstance(i, str) and i for i in many):
            raise BadRequest("thingIds must be an array of thing ids", code="ERR_THING_ID_INVALID")
        ids += [i for i in many if i not in ids]
    if len(ids) > MAX_THING_IDS:
        raise BadRequest(f"at most {MAX_THING_IDS} thing ids", code="ERR_THING_ID_INVALID")
    return ids


def _newest_first(sort: Any) -> bool:
    if sort is None:
        return True
    direction = sort.get("ts") if isinstance(sort, dict) and list(sort) == ["ts"] else None
    if not isinstance(direction, bool) and direction in (1, -1):
        return bool(direction == -1)
    raise BadRequest('sort is {"ts": -1} or {"ts": 1}', code="ERR_SORT_INVALID")


def parse_log_query(req: HistoricalLogsRequest) -> LogQuery:
    """Check a getHistoricalLogs request; a bad field is its own ``ERR_*`` code."""
    if req.logType not in LOG_TYPES:
        raise BadRequest("logType is info or alerts", code="ERR_LOG_TYPE_INVALID")
    if req.query is not None:
        # Silently ignoring a filter would return entries the caller meant to exclude.
        raise BadRequest(
            "query is not supported here; filter with thingId(s), start and end",
            code="ERR_QUERY_INVALID",
        )
    start = _ms(req.start, "start", "ERR_START_DATE_INVALID")
    end = _ms(req.end, "end", "ERR_END_DATE_INVALID")
    if start is not None and end is not None and end < start:
        raise BadRequest("end is before start", code="ERR_END_DATE_INVALID")
    return LogQuery(
        log_type=str(req.logType),
        thing_ids=_thing_ids(req.thingId, req.thingIds),
        start=start,
        end=end,
        offset=_count(req.offset, 0, "offset"),
        limit=_limit(req.limit),
        newest_first=_newest_first(req.sort),
    )


async def _alert_entries(state: ServerState, q: LogQuery) -> list[dict[str, Any]]:
    # Queued changes first, so history agrees with what the live channel has shown.
    await state.alerts.flush()
    where: dict[str, Any] = {"start": q.start, "end": q.end, "thing_ids": q.thing_ids}
    if q.newest_first:
        page = await alert_history(state.engine, offset=q.offset, limit=q.limit, **where)
        return [a.to_dict() for a in page]
    # The alert store lists newest first only: read the mirror-image page and turn it round.
    total = await count_alerts(state.engine, **where)
    stop = total - q.offset
    if stop <= 0:
        return []
    first = max(0, stop - q.limit)
    page = await alert_history(state.engine, offset=first, limit=stop - first, **where)
    return [a.to_dict() for a in reversed(page)]


@router.post(
    "/getHistoricalLogs",
    summary="Change log of things (info) or closed alerts (alerts)",
    response_model=list[dict[str, Any]],
)
async def get_historical_logs(
    req: HistoricalLogsRequest,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(user_principal),
) -> Response:
    """getHistoricalLogs.

    ``info``: ``[{id, thingId, ts, user, action, diff, comment}]`` from the change log;
    ``alerts``: closed alerts as ``/api/alerts`` shows them, by creation time.
    """
    q = parse_log_query(req)
    if q.log_type == "alerts":
        return _json(await _alert_entries(state, q))
    entries = await change_store.list_changes(
        state.engine,
        start=q.start,
        end=q.end,
        thing_ids=q.thing_ids,
        offset=q.offset,
        limit=q.limit,
        newest_first=q.newest_first,
    )
    return _json(entries)
