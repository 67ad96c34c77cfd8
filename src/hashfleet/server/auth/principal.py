"""Who is calling: a person (session or API token) or an agent (rack token)."""

from __future__ import annotations

from dataclasses import dataclass

from hashfleet.server.auth.permissions import BUILTIN_ROLES, has_permission, read_only

ROLES = ("admin", "operator", "viewer")
_WRITE_ROLES = frozenset({"admin", "operator"})

# Bearer token prefixes tell token kinds apart without a lookup in the wrong table.
API_TOKEN_PREFIX = "hfa"
RACK_TOKEN_PREFIX = "hfr"
SESSION_COOKIE = "hashfleet_session"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    kind: str  # "user" or "agent"
    name: str
    role: str = "viewer"
    user_id: str | None = None
    rack_id: str | None = None
    token_write: bool = True
    # Effective ``{type}:{level}`` permissions (role ∩ token scopes, write dropped for
    # read-only tokens); empty means "derive from the built-in role".
    permissions: frozenset[str] = frozenset()

    def perms(self) -> frozenset[str]:
        """The effective permission strings of this caller (agents have none)."""
        if self.kind != "user":
            return frozenset()
        perms = self.permissions or frozenset(BUILTIN_ROLES.get(self.role, ()))
        return perms if self.token_write else read_only(perms)

    def can(self, thing_type: str, level: str) -> bool:
        """Whether this caller may read (``r``) or act on (``w``) things of ``thing_type``."""
        return has_permission(self.perms(), thing_type, level)

    @property
    def can_write(self) -> bool:
        """Whether this caller may change things (agents only ingest)."""
        return self.kind == "user" and self.role in _WRITE_ROLES and self.token_write

    @property
    def is_admin(self) -> bool:
        """Whether this caller administers the instance."""
        return self.kind == "user" and self.role == "admin" and self.token_write
