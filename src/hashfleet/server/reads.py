"""Which requests only read: one list for the audit middleware and the replica guard.

RPC reads are POSTs (as in the seeds), so the method alone does not tell: these names do.
A name missing here is treated as a write by both — audited on success, refused on a
read-only replica — which is the safe side for a new method.
"""

from __future__ import annotations

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RPC_PREFIX = "/rpc/"

# RPC methods that change nothing.
READ_ONLY_RPCS = frozenset(
    {
        "ping",
        "getInstanceId",
        "listThings",
        "listRacks",
        "tailLog",
        "tailLogMulti",
        "tailLogCustomRangeAggr",
        "getHistoricalLogs",
        "getThingComments",
        "getAction",
        "getActionsBatch",
        "queryActions",
        "getGlobalConfig",
        "getWrkConf",
        "getThingConf",
        "getWrkSettings",
    }
)


def rpc_name(path: str) -> str | None:
    """The RPC method a path calls (``/rpc/listThings`` → ``listThings``), or None."""
    return path[len(RPC_PREFIX) :] if path.startswith(RPC_PREFIX) else None
