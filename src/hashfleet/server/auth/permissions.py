"""Permissions as the seed writes them: ``{type}:{level}`` strings, level ``r``, ``w`` or ``rw``.

``miner:rw`` lets a caller read and act on miners, ``container:r`` only read containers,
``*:rw`` everything. A role is a named list of such strings; admin, operator and viewer are
built in, custom roles live in the ``roles`` table. An API token may carry ``scopes`` (a
subset of its user's permissions): the caller's effective permissions are the
intersection.
"""

from __future__ import annotations

from collections.abc import Iterable

from hashfleet.core.errors import BadRequest

ANY = "*"
LEVELS = ("r", "w", "rw")
READ = "r"
WRITE = "w"

BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("*:rw",),
    "operator": ("*:rw",),
    "viewer": ("*:r",),
}


def parse_permission(text: str) -> tuple[str, str]:
    """``"miner:rw"`` → ``("miner", "rw")``; bad strings are ``ERR_PERMISSION_INVALID``."""
    thing_type, sep, level = text.partition(":") if isinstance(text, str) else ("", "", "")
    if not sep or not thing_type or level not in LEVELS or len(text) > 80:
        raise BadRequest(
            f"permission {text!r} is not <type>:<r|w|rw> (type may be *)",
            code="ERR_PERMISSION_INVALID",
        )
    return thing_type, level


def check_permissions(perms: Iterable[str]) -> list[str]:
    """Validated, de-duplicated, sorted permission strings."""
    out = {f"{t}:{lv}" for t, lv in (parse_permission(p) for p in perms)}
    return sorted(out)


def has_permission(perms: Iterable[str], thing_type: str, level: str) -> bool:
    """Whether ``perms`` grant ``level`` (``r`` or ``w``) on things of ``thing_type``.

    As the seed: ``has_permission(["miner:rw", "container:r"], "miner", "w")`` is true,
    ``(…, "container", "w")`` false.
    """
    for perm in perms:
        p_type, _, p_level = perm.partition(":")
        if p_type in (thing_type, ANY) and level in p_level:
            return True
    return False


def intersect(user_perms: Iterable[str], scopes: Iterable[str] | None) -> frozenset[str]:
    """The permissions a token scoped to ``scopes`` really has (never more than its user's).

    Each scope is kept at the levels the user holds on that type; ``*`` scopes are cut down
    to the user's own permissions.
    """
    user = frozenset(user_perms)
    if scopes is None:
        return user
    out: set[str] = set()
    for scope in scopes:
        s_type, _, s_level = scope.partition(":")
        for perm in user:
            p_type, _, p_level = perm.partition(":")
            if s_type == ANY:
                t = p_type
            elif p_type in (s_type, ANY):
                t = s_type
            else:
                continue
            level = "".join(c for c in "rw" if c in s_level and c in p_level)
            if level:
                out.add(f"{t}:{level}")
    return frozenset(out)


def read_only(perms: Iterable[str]) -> frozenset[str]:
    """``perms`` without their write level (a read-only token)."""
    return frozenset(f"{p.partition(':')[0]}:r" for p in perms if "r" in p.partition(":")[2])
