"""``hashfleet users …`` and ``hashfleet tokens …``: people and API tokens, on the database.

They work directly on the database chosen by ``--data-dir``/``--database-url`` (as
``hashfleet server``), migrating it first, so an admin locked out of the dashboard can
still recover: reset a password, enable an account, mint a token. Errors print
``ERR_…: message`` and exit with status 2.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import HashfleetError, NotFound
from hashfleet.core.files import make_private_dir
from hashfleet.core.settings import Settings
from hashfleet.server.auth.service import AuthService
from hashfleet.server.store import users as user_store
from hashfleet.server.store.engine import create_engine, is_sqlite, migrate

T = TypeVar("T")

users_app = typer.Typer(name="users", help="People: list, add, roles, disable, passwords.")
tokens_app = typer.Typer(name="tokens", help="API tokens: list, create, revoke.")

DATA_DIR = typer.Option(None, help="Where the database lives (as for `hashfleet server`).")
DATABASE_URL = typer.Option(None, help="sqlite:///path or postgresql://user@host/db.")
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin."
)
DAY_MS = 86_400_000


def _run(
    data_dir: Path | None,
    database_url: str | None,
    work: Callable[[AuthService], Awaitable[T]],
) -> T:
    """Migrate the chosen database and run ``work`` on it; errors exit with status 2."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)

    async def go() -> T:
        if is_sqlite(settings.db_url) and not settings.database_url:
            make_private_dir(settings.data_dir)
        engine = create_engine(settings.db_url)
        try:
            await migrate(engine)
            return await work(AuthService(engine, settings.session_ttl_s))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except HashfleetError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc


async def _user_id(auth: AuthService, username: str) -> str:
    user = await user_store.user_by_name(auth.engine, username)
    if user is None:
        raise NotFound(f"user {username!r} not found", code="ERR_USER_NOT_FOUND")
    return str(user["id"])


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    cells = [[str(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    for line in [columns, *cells]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


# -- users ------------------------------------------------------------------------------


@users_app.command("list")
def users_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """List people with role, state and lock."""

    async def work(auth: AuthService) -> list[dict[str, Any]]:
        return await user_store.list_users(auth.engine)

    rows = _run(data_dir, database_url, work)
    now = now_ms()
    for row in rows:
        locked = row["locked_until"] is not None and row["locked_until"] > now
        row["state"] = "disabled" if row["disabled"] else ("locked" if locked else "enabled")
        row["created"] = _when(row["created_at"])
    _print_rows(rows, ["username", "role", "state", "failed_logins", "created", "id"], as_json)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option("viewer", help="admin, operator, viewer or a custom role."),
    password_stdin: bool = PASSWORD_STDIN,
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Create a person (password prompted, hidden)."""
    password = _password(password_stdin)

    async def work(auth: AuthService) -> str:
        return await auth.create_user(username, password, role)

    uid = _run(data_dir, database_url, work)
    typer.echo(f"Created {username!r} ({role}), id {uid}")


@users_app.command("set-role")
def users_set_role(
    username: str = typer.Argument(...),
    role: str = typer.Argument(..., help="admin, operator, viewer or a custom role."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Give a person another role (never demotes the last enabled admin)."""

    async def work(auth: AuthService) -> None:
        await auth.set_role(await _user_id(auth, username), role)

    _run(data_dir, database_url, work)
    typer.echo(f"{username!r} is now {role}")


def _set_disabled(username: str, disabled: bool, data_dir: Path, database_url: str) -> None:
    async def work(auth: AuthService) -> None:
        await auth.set_disabled(await _user_id(auth, username), disabled)

    _run(data_dir, database_url, work)
    typer.echo(f"{username!r} is {'disabled' if disabled else 'enabled'}")


@users_app.command("disable")
def users_disable(
    username: str = typer.Argument(...),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Disable a person: sessions closed, tokens refused, logins refused."""
    _set_disabled(username, True, data_dir, database_url)


@users_app.command("enable")
def users_enable(
    username: str = typer.Argument(...),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Enable a person again (and clear a login lock)."""
    _set_disabled(username, False, data_dir, database_url)


@users_app.command("passwd")
def users_passwd(
    username: str = typer.Argument(...),
    password_stdin: bool = PASSWORD_STDIN,
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Set a password (clears the login lock, closes the person's sessions)."""
    password = _password(password_stdin)

    async def work(auth: AuthService) -> None:
        await auth.set_password(await _user_id(auth, username), password)

    _run(data_dir, database_url, work)
    typer.echo(f"Password of {username!r} changed")


@users_app.command("delete")
def users_delete(
    username: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Delete a person with their tokens and sessions (never the last enabled admin)."""
    if not yes:
        typer.confirm(f"Delete {username!r} and their tokens?", abort=True)

    async def work(auth: AuthService) -> None:
        await auth.delete_user(await _user_id(auth, username))

    _run(data_dir, database_url, work)
    typer.echo(f"Deleted {username!r}")


# -- tokens -----------------------------------------------------------------------------


@tokens_app.command("list")
def tokens_list(
    user: str = typer.Option(None, "--user", "-u", help="Only this person's tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """List API tokens (never their secrets), revoked and expired ones included."""

    async def work(auth: AuthService) -> list[dict[str, Any]]:
        uid = None if user is None else await _user_id(auth, user)
        return await user_store.list_tokens(auth.engine, uid)

    rows = _run(data_dir, database_url, work)
    now = now_ms()
    for row in rows:
        expired = row["expires_at"] is not None and row["expires_at"] <= now
        row["state"] = (
            "revoked" if row["revoked_at"] is not None else ("expired" if expired else "active")
        )
        row["access"] = "rw" if row["write"] else "ro"
        row["scope"] = "-" if row["scopes"] is None else ",".join(row["scopes"])
        row["last_used"] = _when(row["last_used_at"])
        row["expires"] = _when(row["expires_at"])
    columns = ["id", "username", "name", "access", "scope", "state", "last_used", "expires"]
    _print_rows(rows, columns, as_json)


@tokens_app.command("create")
def tokens_create(
    user: str = typer.Option(..., "--user", "-u", help="Whose token it is."),
    name: str = typer.Option(..., "--name", "-n", help="What it is for."),
    read_only: bool = typer.Option(False, "--read-only", help="Drop write access."),
    scope: list[str] = typer.Option(
        None, "--scope", help="Limit to a permission such as miner:rw (repeatable)."
    ),
    expires_in_days: int = typer.Option(None, min=1, max=3650, help="Expire after N days."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Create an API token; its secret is printed this once (only its hash is kept)."""

    async def work(auth: AuthService) -> tuple[str, str]:
        expires_at = None if expires_in_days is None else auth.clock() + expires_in_days * DAY_MS
        return await auth.issue_api_token(
            await _user_id(auth, user), name, not read_only, scope or None, expires_at
        )

    token_id, token = _run(data_dir, database_url, work)
    typer.echo(f"Token {token_id} for {user!r} (shown once, keep it safe):", err=True)
    typer.echo(token)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., help="The token's id (see `hashfleet tokens list`)."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE_URL,
) -> None:
    """Revoke a token: refused at once, kept in the list with its revocation time."""

    async def work(auth: AuthService) -> None:
        if await user_store.token_by_id(auth.engine, token_id) is None:
            raise NotFound(f"token {token_id!r} not found", code="ERR_TOKEN_NOT_FOUND")
        await auth.revoke_api_token(token_id)

    _run(data_dir, database_url, work)
    typer.echo(f"Revoked {token_id}")
