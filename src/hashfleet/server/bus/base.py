"""The bus interface between the ingest endpoint and the writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Rows = list[dict[str, Any]]
Handler = Callable[[Rows], Awaitable[int]]


class Bus(Protocol):
    """Carries snapshot rows from ingest to the writer.

    ``publish`` returns only once the rows are durable (written by the handler, or
    persisted in the bus itself), with how many were new.
    """

    async def start(self, handler: Handler) -> None:
        """Begin delivering published rows to ``handler``."""
        ...

    async def publish(self, rows: Rows) -> int:
        """Hand over rows; returns once they are durable."""
        ...

    async def stop(self) -> None:
        """Deliver what is pending, then stop."""
        ...

    def pending(self) -> int:
        """Batches published and not yet written (for /metrics)."""
        ...
