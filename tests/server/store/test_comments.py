"""Comments on things: add, edit, delete, list — SQLite and PostgreSQL."""

from __future__ import annotations

from hashfleet.server.store import comments
from hashfleet.server.store.engine import create_engine, migrate


async def test_comment_lifecycle(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        first = await comments.add_comment(engine, "m1", "ann", "fan replaced", now=1000)
        second = await comments.add_comment(engine, "m1", "bob", "still hot", now=2000)
        await comments.add_comment(engine, "m2", "ann", "other thing", now=1500)
        assert first["id"] != second["id"]
        assert first == {
            "id": first["id"],
            "thingId": "m1",
            "user": "ann",
            "comment": "fan replaced",
            "createdAt": 1000,
            "updatedAt": 1000,
        }
        listed = await comments.list_comments(engine, "m1")
        assert [c["comment"] for c in listed] == ["still hot", "fan replaced"]
        assert listed[1] == first
        page = await comments.list_comments(engine, "m1", offset=1, limit=1)
        assert [c["id"] for c in page] == [first["id"]]
        assert await comments.count_comments(engine, "m1") == 2

        assert await comments.edit_comment(engine, "m1", first["id"], "fan and PSU", now=3000)
        got = await comments.get_comment(engine, "m1", first["id"])
        assert got is not None
        assert (got["comment"], got["createdAt"], got["updatedAt"]) == ("fan and PSU", 1000, 3000)
        # A comment is found only under its own thing.
        assert await comments.get_comment(engine, "m2", first["id"]) is None
        assert not await comments.edit_comment(engine, "m2", first["id"], "x")
        assert not await comments.delete_comment(engine, "m2", first["id"])
        assert not await comments.edit_comment(engine, "m1", "no-such-id", "x")

        assert await comments.delete_comment(engine, "m1", first["id"])
        assert not await comments.delete_comment(engine, "m1", first["id"])
        assert [c["id"] for c in await comments.list_comments(engine, "m1")] == [second["id"]]
        assert await comments.list_comments(engine, "nothing") == []
    finally:
        await engine.dispose()
