"""One audit log entry, as recorded by the middleware and stored in ``audit_log``."""

from __future__ import annotations

from typing import Any

import msgspec

# The widths of the ``audit_log`` columns: longer values are cut rather than failing a batch.
ACTOR_MAX = 128
KIND_MAX = 16
METHOD_MAX = 16
PATH_MAX = 256
REMOTE_MAX = 64

ACTOR_KINDS = ("user", "agent", "anonymous")


def clean_text(value: str, width: int | None = None) -> str:
    """``value`` safe for any store: no NUL, no lone surrogate, at most ``width`` characters.

    PostgreSQL refuses NUL characters in text and JSONB, and a lone surrogate cannot be
    encoded at all; one such value would otherwise fail the whole batch it is written in.
    """
    text = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text[:width] if width is not None else text


class AuditEntry(msgspec.Struct, kw_only=True):
    """Who did what, when, from where, and how it ended."""

    ts: int  # ms, when the request arrived
    method: str
    path: str
    status: int
    actor: str | None = None
    actor_kind: str = "anonymous"
    remote: str | None = None
    detail: dict[str, Any] | None = None
    id: int | None = None  # set once stored

    def row(self) -> dict[str, Any]:
        """The ``audit_log`` row (without ``id``), every text cut to its column."""
        return {
            "ts": self.ts,
            "actor": clean_text(self.actor, ACTOR_MAX) if self.actor is not None else None,
            "actor_kind": clean_text(self.actor_kind, KIND_MAX),
            "method": clean_text(self.method, METHOD_MAX),
            "path": clean_text(self.path, PATH_MAX),
            "status": self.status,
            "remote": clean_text(self.remote, REMOTE_MAX) if self.remote is not None else None,
            "detail": self.detail,
        }

    def to_dict(self) -> dict[str, Any]:
        """The API shape of this entry."""
        return {
            "id": self.id,
            "ts": self.ts,
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "remote": self.remote,
            "detail": self.detail,
        }
