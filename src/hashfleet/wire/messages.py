"""Messages between agent and server, version 1.

The agent ships :class:`IngestBatch` to ``POST /api/agent/ingest``; the server answers
:class:`IngestAck` once every item of the batch is durable.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

WIRE_VERSION = 1


NULL = msgspec.Raw(b"null")


class SnapshotItem(msgspec.Struct, kw_only=True):
    """One poll result: a snapshot, or the error code that prevented it.

    ``snap`` stays raw JSON (an object, or ``null`` when the poll failed) so the server can
    store it without encoding it again; it is decoded once, for the live index.
    """

    seq: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    thing_id: Annotated[str, msgspec.Meta(max_length=128)]
    ts: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]  # epoch ms
    snap: msgspec.Raw = msgspec.field(default_factory=lambda: NULL)
    err: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class IngestBatch(msgspec.Struct, kw_only=True):
    """A batch of poll results from one agent's spool, in spool order."""

    v: int = WIRE_VERSION
    spool_id: str
    items: list[SnapshotItem]


class IngestAck(msgspec.Struct, kw_only=True):
    """The server's receipt: every item with ``seq <= acked_seq`` is durable."""

    acked_seq: int
    stored: int
    duplicates: int


class AgentThing(msgspec.Struct, kw_only=True):
    """A thing as the agent needs it: its id and how to reach it."""

    id: str
    code: str
    type: str
    opts: dict[str, Any]


class AgentConfig(msgspec.Struct, kw_only=True):
    """What an agent loads from the server for its rack."""

    rack_id: str
    things: list[AgentThing]
    poll_interval: float


# The job method of ``rackReboot``: the agent restarts itself (``thing_id`` ``rack:<id>``).
RESTART_AGENT = "restart_agent"


class AgentJob(msgspec.Struct, kw_only=True):
    """One approved call for the agent to run on one of its things.

    ``id`` is the server's job id: the agent runs a job id at most once, whatever the
    network does (its journal remembers every id it has started). A job with method
    ``RESTART_AGENT`` is for the agent itself (``thing_id`` ``rack:<rackId>``).
    """

    id: int
    action_id: int
    thing_id: str
    method: str  # a driver control, e.g. "reboot", "set_power_mode"; or RESTART_AGENT
    params: list[Any] = msgspec.field(default_factory=list)


class AgentJobs(msgspec.Struct, kw_only=True):
    """``GET /api/agent/jobs``: the jobs offered to this agent now."""

    jobs: list[AgentJob]


class JobResult(msgspec.Struct, kw_only=True):
    """How one job ended on the device: ``ok`` with the method's result, or an error."""

    id: int
    ok: bool
    result: Any = None
    error: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # an ERR_* code
    message: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class JobResults(msgspec.Struct, kw_only=True):
    """``POST /api/agent/jobs/results``: results the agent has not had acknowledged yet."""

    results: list[JobResult]


class JobResultsAck(msgspec.Struct, kw_only=True):
    """The job ids whose results are now durable on the server (first result wins)."""

    acked: list[int]
