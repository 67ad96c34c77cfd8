"""The bus interface between the ingest endpoint and the writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Rows = list[dict[str, Any]]
Handler = Callable[[Rows], Awaitable[int]]
# A notice between servers (registry, settings, actions, jobs changed): kind, small JSON data.
Announce = Callable[[str, dict[str, Any]], Awaitable[None]]
Listener = Callable[[dict[str, Any]], Awaitable[None]]


class Bus(Protocol):
    """Carries snapshot rows from ingest to the writer.

    ``publish`` returns only once the rows are durable (written by the handler, or
    persisted in the bus itself), with how many were new. ``delivers_rows``: the handler
    of this process gets the published row dicts themselves (so what ingest decoded in
    them is read there); otherwise only their encoding travels.
    """

    delivers_rows: bool

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


class Announcer(Protocol):
    """Small "something changed" notices between the servers sharing one store.

    At most once (core NATS with the NATS bus; nothing at all with the embedded bus, where
    there is only one server): receivers reload what changed from the store, and a periodic
    resync covers a notice that was missed.
    """

    async def announce(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the other servers (never this one) that ``kind`` changed."""
        ...

    def listen(self, kind: str, listener: Listener) -> None:
        """Call ``listener`` with the data of every ``kind`` notice from another server."""
        ...


class NoAnnouncer:
    """The announcer of a server alone: nobody to tell."""

    async def announce(self, kind: str, data: dict[str, Any]) -> None:
        """Nothing to do."""

    def listen(self, kind: str, listener: Listener) -> None:
        """Nothing will ever come."""
