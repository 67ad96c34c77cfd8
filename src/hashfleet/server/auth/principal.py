"""Who is calling: a person (session or API token) or an agent (rack token)."""

from __future__ import annotations

from dataclasses import dataclass

from hashfleet.server.auth.permissions import BUILTIN_ROLES, WRITE, has_permission, read_only

# The built-in roles; custom ones live in the ``roles`` table.
ROLES = ("admin", "operator", "viewer")

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
    # Effective ``{type}:{level}`` permissions (role ∩ token scopes, before the read-only
    # cut); None means "derive from the built-in role". None, not empty: a scoped token
    # whose scopes meet none of its role's permissions has no permission at all.
    permissions: frozenset[str] | None = None
    # The API token behind this caller (None for sessions): its id, its scopes and its
    # expiry, so a token can never mint a broader or longer-lived one.
    token_id: str | None = None
    token_scopes: frozenset[str] | None = None
    token_expires_at: int | None = None

    def perms(self) -> frozenset[str]:
        """The effective permission strings of this caller (agents have none)."""
        if self.kind != "user":
            return frozenset()
        perms = (
            self.permissions
            if self.permissions is not None
            else frozenset(BUILTIN_ROLES.get(self.role, ()))
        )
        return perms if self.token_write else read_only(perms)

    def can(self, thing_type: str, level: str) -> bool:
        """Whether this caller may read (``r``) or act on (``w``) things of ``thing_type``."""
        return has_permission(self.perms(), thing_type, level)

    @property
    def can_write(self) -> bool:
        """Whether this caller may change something: a person holding any ``w`` permission.

        Agents only ingest; read-only tokens have no ``w`` left (``perms()`` drops it).
        """
        return (
            self.kind == "user"
            and self.token_write
            and any(WRITE in p.partition(":")[2] for p in self.perms())
        )

    @property
    def is_admin(self) -> bool:
        """Whether this caller administers the instance."""
        return self.kind == "user" and self.role == "admin" and self.token_write
