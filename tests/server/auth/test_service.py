"""AuthService over SQLite and PostgreSQL: lockout, rate limit, disabled people, token
revocation, expiry and scopes, the last_used throttle, custom roles, the last-admin guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hashfleet.core.errors import BadRequest, Conflict, HashfleetError, TooManyRequests
from hashfleet.server.auth.service import AuthService, RateLimiter
from hashfleet.server.store import users as user_store
from hashfleet.server.store.engine import create_engine, migrate

T0 = 1_700_000_000_000
PW = "right-password"


class Clock:
    """A settable millisecond clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def auth(db_url: str, clock: Clock) -> AsyncIterator[AuthService]:
    engine = create_engine(db_url)
    await migrate(engine)
    try:
        yield AuthService(engine, 3600, clock=clock)
    finally:
        await engine.dispose()


async def _code(coro: Any) -> str:
    with pytest.raises(HashfleetError) as exc:
        await coro
    return exc.value.code


async def test_lockout_doubles_and_resets(auth: AuthService, clock: Clock) -> None:
    uid = await auth.create_user("ann", PW, "operator")
    for _ in range(4):
        assert await _code(auth.login("ann", "wrong-password")) == "ERR_LOGIN_FAILED"
    assert (await user_store.user_by_id(auth.engine, uid) or {})["locked_until"] is None
    # The fifth failure locks for a minute; even the right password is not checked then.
    assert await _code(auth.login("ann", "wrong-password")) == "ERR_LOGIN_FAILED"
    with pytest.raises(TooManyRequests) as exc:
        await auth.login("ann", PW)
    assert exc.value.code == "ERR_LOGIN_LOCKED" and exc.value.status == 429
    assert exc.value.retry_after_s == 60
    clock.advance(61)
    # Each further failure doubles the lock.
    assert await _code(auth.login("ann", "wrong-password")) == "ERR_LOGIN_FAILED"
    with pytest.raises(TooManyRequests) as exc:
        await auth.login("ann", PW)
    assert exc.value.retry_after_s == 120
    clock.advance(121)
    assert await _code(auth.login("ann", "wrong-password")) == "ERR_LOGIN_FAILED"
    with pytest.raises(TooManyRequests) as exc:
        await auth.login("ann", PW)
    assert exc.value.retry_after_s == 240
    clock.advance(241)
    # A good password opens a session and clears the count.
    session = await auth.login("ann", PW)
    assert (await auth.from_session(session)) is not None
    row = await user_store.user_by_id(auth.engine, uid)
    assert row is not None and (row["failed_logins"], row["locked_until"]) == (0, None)
    assert await _code(auth.login("ann", "wrong-password")) == "ERR_LOGIN_FAILED"
    assert (await auth.login("ann", PW)).startswith("hfs_")  # 1 failure: no lock


def test_lock_durations_are_capped() -> None:
    durations = [user_store.lock_duration_s(n, 5, 60, 3600) for n in range(1, 14)]
    assert durations == [0, 0, 0, 0, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert user_store.lock_duration_s(10**9, 5, 60, 3600) == 3600


async def test_unknown_usernames_lock_like_real_ones(auth: AuthService, clock: Clock) -> None:
    for _ in range(5):
        assert await _code(auth.login("nobody", "whatever-pw")) == "ERR_LOGIN_FAILED"
    with pytest.raises(TooManyRequests) as exc:
        await auth.login("nobody", "whatever-pw")
    assert (exc.value.code, exc.value.retry_after_s) == ("ERR_LOGIN_LOCKED", 60)


async def test_a_wrong_current_password_counts_toward_the_lock(auth: AuthService) -> None:
    await auth.create_user("bob", PW, "viewer")
    for _ in range(5):
        code = await _code(auth.change_own_password("bob", "nope-nope", "new-password-1"))
        assert code == "ERR_PASSWORD_WRONG"
    assert await _code(auth.login("bob", PW)) == "ERR_LOGIN_LOCKED"


async def test_login_rate_limit_per_client(db_url: str, clock: Clock) -> None:
    engine = create_engine(db_url)
    await migrate(engine)
    try:
        auth = AuthService(engine, 3600, clock=clock, login_per_min=60, login_burst=3)
        for _ in range(3):
            assert await _code(auth.login("x", "y" * 8, client="10.0.0.1")) == "ERR_LOGIN_FAILED"
        with pytest.raises(TooManyRequests) as exc:
            await auth.login("x", "y" * 8, client="10.0.0.1")
        assert (exc.value.code, exc.value.retry_after_s) == ("ERR_LOGIN_RATE_LIMITED", 1)
        # Another address is not affected; the bucket refills with time.
        assert await _code(auth.login("x", "y" * 8, client="10.0.0.2")) == "ERR_LOGIN_FAILED"
        clock.advance(1)
        assert await _code(auth.login("x", "y" * 8, client="10.0.0.1")) == "ERR_LOGIN_FAILED"
    finally:
        await engine.dispose()


def test_rate_limiter_buckets_and_memory_bound() -> None:
    limiter = RateLimiter(per_minute=10, burst=2, max_keys=3)
    assert [limiter.hit("a", 0) for _ in range(3)] == [0, 0, 6]
    assert limiter.hit("a", 6_000) == 0
    for key in "bcdef":
        limiter.hit(key, 0)
    assert len(limiter._buckets) == 3


async def test_disabled_people_are_nobody(auth: AuthService) -> None:
    await auth.create_user("admin", PW, "admin")
    uid = await auth.create_user("carl", PW, "operator")
    session = await auth.login("carl", PW)
    token = await auth.create_api_token(uid, "t", True)
    assert await auth.from_session(session) is not None
    assert await auth.from_bearer(token) is not None
    await auth.set_disabled(uid, True)
    assert await auth.from_session(session) is None
    assert await auth.from_bearer(token) is None
    assert await _code(auth.login("carl", PW)) == "ERR_USER_DISABLED"
    assert await _code(auth.login("carl", "wrong-password")) == "ERR_LOGIN_FAILED"
    await auth.set_disabled(uid, False)
    principal = await auth.from_bearer(token)
    assert principal is not None and principal.can_write
    assert await auth.from_session(session) is None  # disabling closed the session
    assert (await auth.login("carl", PW)).startswith("hfs_")


async def test_revoked_and_expired_tokens(auth: AuthService, clock: Clock) -> None:
    uid = await auth.create_user("dora", PW, "viewer")
    short_id, short = await auth.issue_api_token(uid, "short", True, expires_at=T0 + 60_000)
    long_id, long = await auth.issue_api_token(uid, "long", True)
    assert await auth.from_bearer(short) is not None
    clock.advance(60)
    assert await auth.from_bearer(short) is None
    await auth.revoke_api_token(long_id)
    assert await auth.from_bearer(long) is None
    assert await auth.from_bearer("hfa_never-issued") is None
    rows = {r["id"]: r for r in await user_store.list_tokens(auth.engine, uid)}
    assert rows[long_id]["revoked_at"] is not None and rows[short_id]["revoked_at"] is None
    assert "token_hash" not in rows[long_id]


async def test_scopes_intersect_the_role(auth: AuthService) -> None:
    await auth.create_role("tech", ["miner:rw", "container:r"], "hands on miners")
    uid = await auth.create_user("eve", PW, "tech")
    token = await auth.create_api_token(uid, "t", True, scopes=["miner:r", "container:rw"])
    p = await auth.from_bearer(token)
    assert p is not None
    assert p.perms() == {"miner:r", "container:r"} and not p.can_write
    full = await auth.from_bearer(await auth.create_api_token(uid, "full", True))
    assert full is not None and full.can("miner", "w") and not full.can("container", "w")
    assert full.can_write and not full.is_admin
    read_only = await auth.from_bearer(await auth.create_api_token(uid, "ro", False))
    assert read_only is not None and read_only.perms() == {"miner:r", "container:r"}
    assert not read_only.can_write
    # A viewer's token scoped to writing has no permission at all (not the viewer's).
    vid = await auth.create_user("vic", PW, "viewer")
    none = await auth.from_bearer(await auth.create_api_token(vid, "w", True, scopes=["miner:w"]))
    assert none is not None and none.perms() == frozenset() and not none.can("miner", "r")
    assert await _code(auth.create_api_token(vid, "bad", True, scopes=["miner"])) == (
        "ERR_PERMISSION_INVALID"
    )


async def test_last_used_is_written_at_most_once_a_minute(auth: AuthService, clock: Clock) -> None:
    uid = await auth.create_user("fay", PW, "viewer")
    token_id, token = await auth.issue_api_token(uid, "t", True)

    async def last_used() -> int | None:
        row = await user_store.token_by_id(auth.engine, token_id)
        assert row is not None
        return row["last_used_at"]  # type: ignore[no-any-return]

    assert await last_used() is None
    await auth.from_bearer(token)
    assert await last_used() == T0
    clock.advance(30)
    await auth.from_bearer(token)
    assert await last_used() == T0
    clock.advance(31)
    await auth.from_bearer(token)
    assert await last_used() == T0 + 61_000


async def test_custom_roles(auth: AuthService) -> None:
    assert await _code(auth.create_user("gus", PW, "tech")) == "ERR_ROLE_INVALID"
    await auth.create_role("tech", ["miner:rw"], "")
    uid = await auth.create_user("gus", PW, "tech")
    session = await auth.login("gus", PW)
    p = await auth.from_session(session)
    assert p is not None and p.perms() == {"miner:rw"} and p.can_write and not p.is_admin
    # A change applies at once to the holders.
    await auth.update_role("tech", ["miner:r"], "read only now")
    p = await auth.from_session(session)
    assert p is not None and p.perms() == {"miner:r"} and not p.can_write
    assert await _code(auth.create_role("tech", ["miner:r"])) == "ERR_ROLE_EXISTS"
    assert await _code(auth.delete_role("tech")) == "ERR_ROLE_IN_USE"
    for builtin in ("admin", "viewer"):
        assert await _code(auth.update_role(builtin, ["*:rw"])) == "ERR_ROLE_BUILTIN"
        assert await _code(auth.delete_role(builtin)) == "ERR_ROLE_BUILTIN"
    assert await _code(auth.create_role("bad name!", ["*:r"])) == "ERR_ROLE_INVALID"
    assert await _code(auth.update_role("ghost", ["*:r"])) == "ERR_ROLE_NOT_FOUND"
    await auth.set_role(uid, "viewer")
    await auth.delete_role("tech")
    assert [r["name"] for r in await auth.list_roles()] == ["admin", "operator", "viewer"]


async def test_never_the_last_enabled_admin(auth: AuthService) -> None:
    first = await auth.create_user("root", PW, "admin")
    assert await _code(auth.set_role(first, "operator")) == "ERR_LAST_ADMIN"
    assert await _code(auth.set_disabled(first, True)) == "ERR_LAST_ADMIN"
    assert await _code(auth.delete_user(first)) == "ERR_LAST_ADMIN"
    second = await auth.create_user("root2", PW, "admin")
    await auth.set_disabled(second, True)  # a disabled admin does not count
    assert await _code(auth.delete_user(first)) == "ERR_LAST_ADMIN"
    await auth.set_disabled(second, False)
    await auth.set_role(first, "viewer")
    with pytest.raises(Conflict):
        await auth.delete_user(second)
    await auth.delete_user(first)
    assert [u["username"] for u in await user_store.list_users(auth.engine)] == ["root2"]
    assert await _code(auth.delete_user("no-such-id")) == "ERR_USER_NOT_FOUND"


async def test_password_rules(auth: AuthService) -> None:
    with pytest.raises(BadRequest) as exc:
        await auth.create_user("hal", "short", "viewer")
    assert exc.value.code == "ERR_PASSWORD_INVALID"
    uid = await auth.create_user("hal", PW, "viewer")
    s1 = await auth.login("hal", PW)
    s2 = await auth.login("hal", PW)
    await auth.change_own_password("hal", PW, "brand-new-pass", keep_session=s1)
    assert await auth.from_session(s1) is not None and await auth.from_session(s2) is None
    assert (await auth.login("hal", "brand-new-pass")).startswith("hfs_")
    await auth.set_password(uid, "reset-by-admin")
    assert await auth.from_session(s1) is None
