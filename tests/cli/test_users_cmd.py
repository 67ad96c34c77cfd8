"""``hashfleet users`` and ``hashfleet tokens`` on a temporary data directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from hashfleet.server.auth.service import AuthService
from hashfleet.server.store.engine import create_engine

runner = CliRunner()


def run(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    from hashfleet.cli.main import app

    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.output


def bearer(data_dir: Path, token: str) -> dict[str, object] | None:
    """Who a token authenticates as, read straight from the database."""

    async def go() -> dict[str, object] | None:
        engine = create_engine(f"sqlite:///{data_dir / 'hashfleet.db'}")
        try:
            p = await AuthService(engine, 60).from_bearer(token)
            return None if p is None else {"name": p.name, "perms": sorted(p.perms())}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_users_lifecycle(tmp_path: Path) -> None:
    d = tmp_path / "data"
    code, out = run(
        d, "users", "add", "root", "--role", "admin", "--password-stdin", stdin="root-password\n"
    )
    assert code == 0 and "Created 'root' (admin)" in out
    code, out = run(d, "users", "add", "ann", "--password-stdin", stdin="ann-password\n")
    assert code == 0 and "(viewer)" in out
    # Hidden prompt with confirmation.
    code, out = run(
        d, "users", "add", "bob", "--role", "operator", stdin="bob-password\nbob-password\n"
    )
    assert code == 0, out
    assert "bob-password" not in out
    code, out = run(d, "users", "add", "ann", "--password-stdin", stdin="ann-password\n")
    assert code == 2 and "ERR_USER_EXISTS" in out
    code, out = run(d, "users", "add", "cy", "--password-stdin", stdin="short\n")
    assert code == 2 and "ERR_PASSWORD_INVALID" in out
    code, out = run(
        d, "users", "add", "cy", "--role", "tech", "--password-stdin", stdin="cy-password\n"
    )
    assert code == 2 and "ERR_ROLE_INVALID" in out

    assert run(d, "users", "set-role", "ann", "operator")[0] == 0
    assert run(d, "users", "disable", "bob")[0] == 0
    code, out = run(d, "users", "list", "--json")
    rows = {r["username"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"root", "ann", "bob"}
    assert rows["ann"]["role"] == "operator" and rows["bob"]["state"] == "disabled"
    assert "password_hash" not in rows["ann"]
    code, out = run(d, "users", "list")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["username", "role", "state"]
    assert run(d, "users", "enable", "bob")[0] == 0
    assert run(d, "users", "passwd", "bob", "--password-stdin", stdin="bob-new-password\n")[0] == 0

    # The last enabled admin stays.
    for args in (("set-role", "root", "viewer"), ("disable", "root"), ("delete", "root", "--yes")):
        code, out = run(d, "users", *args)
        assert code == 2 and "ERR_LAST_ADMIN" in out, args
    code, out = run(d, "users", "delete", "ghost", "--yes")
    assert code == 2 and "ERR_USER_NOT_FOUND" in out
    assert run(d, "users", "delete", "bob", stdin="n\n")[0] == 1  # not confirmed
    assert run(d, "users", "delete", "bob", "--yes")[0] == 0
    names = {r["username"] for r in json.loads(run(d, "users", "list", "--json")[1])}
    assert names == {"root", "ann"}


def test_tokens(tmp_path: Path) -> None:
    d = tmp_path / "data"
    assert (
        run(
            d,
            "users",
            "add",
            "ann",
            "--role",
            "operator",
            "--password-stdin",
            stdin="ann-password\n",
        )[0]
        == 0
    )
    code, out = run(
        d, "tokens", "create", "--user", "ann", "--name", "ci", "--scope", "miner:rw",
        "--read-only", "--expires-in-days", "7",
    )  # fmt: skip
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("hfa_")
    assert bearer(d, token) == {"name": "ann", "perms": ["miner:r"]}
    code, out = run(d, "tokens", "list", "--json")
    (row,) = json.loads(out)
    assert token not in out and row["name"] == "ci" and row["state"] == "active"
    assert row["access"] == "ro" and row["scope"] == "miner:rw" and row["expires_at"]
    assert run(d, "tokens", "revoke", row["id"])[0] == 0
    assert bearer(d, token) is None
    (row,) = json.loads(run(d, "tokens", "list", "--user", "ann", "--json")[1])
    assert row["state"] == "revoked"
    code, out = run(d, "tokens", "revoke", "no-such-token")
    assert code == 2 and "ERR_TOKEN_NOT_FOUND" in out
    code, out = run(d, "tokens", "create", "--user", "nobody", "--name", "x")
    assert code == 2 and "ERR_USER_NOT_FOUND" in out
    code, out = run(d, "tokens", "create", "--user", "ann", "--name", "x", "--scope", "bad")
    assert code == 2 and "ERR_PERMISSION_INVALID" in out


def test_help_lists_the_people_commands() -> None:
    from hashfleet.cli.main import app

    out = runner.invoke(app, ["--help"]).output
    assert "users" in out and "tokens" in out
    out = runner.invoke(app, ["users", "--help"]).output
    for command in ("list", "add", "set-role", "disable", "enable", "passwd", "delete"):
        assert command in out
