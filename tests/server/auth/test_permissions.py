"""Permission strings as the seed defines them, token scopes and read-only tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashfleet.core.errors import BadRequest
from hashfleet.server.auth.permissions import (
    check_permissions,
    has_permission,
    intersect,
    parse_permission,
    read_only,
)
from hashfleet.server.auth.principal import Principal

TYPES = st.sampled_from(["miner", "container", "powermeter", "*"])
LEVELS = st.sampled_from(["r", "w", "rw"])
PERMS = st.lists(st.builds(lambda t, lv: f"{t}:{lv}", TYPES, LEVELS), max_size=5)


def test_the_seed_examples() -> None:
    perms = ["miner:rw", "container:r"]
    assert has_permission(perms, "miner", "w")
    assert not has_permission(perms, "container", "w")
    assert has_permission(perms, "container", "r")
    assert has_permission(["miner:w"], "miner", "w") and not has_permission(
        ["miner:w"], "miner", "r"
    )
    assert has_permission(["*:r"], "sensor", "r") and not has_permission(["*:r"], "sensor", "w")


@pytest.mark.parametrize("bad", ["miner", "miner:x", ":rw", "miner:", "a" * 90 + ":r", 3])
def test_bad_permission_strings(bad: object) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_permission(bad)  # type: ignore[arg-type]
    assert exc.value.code == "ERR_PERMISSION_INVALID"


def test_check_permissions_sorts_and_dedupes() -> None:
    assert check_permissions(["miner:r", "container:rw", "miner:r"]) == ["container:rw", "miner:r"]


@given(PERMS, st.one_of(st.none(), PERMS), TYPES, st.sampled_from(["r", "w"]))
def test_a_scoped_token_never_exceeds_its_user(
    user: list[str], scopes: list[str] | None, thing_type: str, level: str
) -> None:
    if has_permission(intersect(user, scopes), thing_type, level):
        assert has_permission(user, thing_type, level)
        if scopes is not None:
            assert has_permission(scopes, thing_type, level)


@given(PERMS, TYPES)
def test_read_only_keeps_reads_and_drops_writes(perms: list[str], thing_type: str) -> None:
    ro = read_only(perms)
    assert not has_permission(ro, thing_type, "w")
    assert has_permission(ro, thing_type, "r") == has_permission(perms, thing_type, "r")


def test_principals() -> None:
    viewer = Principal("user", "v", "viewer")
    assert viewer.can("miner", "r") and not viewer.can("miner", "w")
    operator = Principal("user", "o", "operator")
    assert operator.can("container", "w")
    assert not Principal("user", "o", "operator", token_write=False).can("container", "w")
    custom = Principal("user", "c", "tech", permissions=frozenset({"miner:rw"}))
    assert custom.can("miner", "w") and not custom.can("container", "r")
    assert not Principal("agent", "rack-1", rack_id="rack-1").can("miner", "r")
