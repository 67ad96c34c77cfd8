"""Private files: credentials are never readable by other local users."""

from __future__ import annotations

import stat
from pathlib import Path

from hashfleet.core.files import make_private_dir, write_private


def test_a_new_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    write_private(path, '{"password": "x"}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == '{"password": "x"}'


def test_an_existing_readable_file_is_narrowed_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_text("old and longer content")
    path.chmod(0o644)
    write_private(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "new"


def test_a_created_data_dir_is_owner_only_and_an_existing_one_is_left_alone(
    tmp_path: Path,
) -> None:
    made = tmp_path / "a" / "data"
    make_private_dir(made)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o750)
    existing.chmod(0o750)
    make_private_dir(existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o750
