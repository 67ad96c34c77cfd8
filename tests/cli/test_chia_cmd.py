"""``hashfleet chia copy-plots`` through Typer's runner: progress, summary, exit code."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from hashfleet.cli.chia_cmd import app


def test_copy_plots_many_to_many(tmp_path: Path) -> None:
    sources = [tmp_path / "s1", tmp_path / "s2"]
    targets = [tmp_path / "t1", tmp_path / "t2"]
    for d in (*sources, *targets):
        d.mkdir()
    for i, src in enumerate(sources * 2):
        (src / f"plot-{i}.plot").write_bytes(os.urandom(5000 + i))
    args = ["copy-plots", "--margin-mib", "0", "--parallel-per-target", "2", "--delete-source"]
    for s in sources:
        args += ["--source", str(s)]
    for t in targets:
        args += ["--target", str(t)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 copied, 0 skipped, 0 failed, 0 no_space" in result.output
    assert sum(len(list(t.iterdir())) for t in targets) == 4
    assert not any(any(s.iterdir()) for s in sources)
    # Move everything from the second target onto the first: a second run, same rules.
    again = CliRunner().invoke(
        app, [*args[:-4], "--target", str(targets[0]), "--source", str(targets[1])]
    )
    assert again.exit_code == 0, again.output


def test_copy_plots_no_room_exits_1(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "t").mkdir()
    (tmp_path / "s" / "a.plot").write_bytes(b"x" * 100)
    huge = str(1 << 40)  # a margin no disk has
    result = CliRunner().invoke(app, ["copy-plots", "-s", str(tmp_path / "s"), "-t",
                                      str(tmp_path / "t"), "--margin-mib", huge])  # fmt: skip
    assert result.exit_code == 1 and "1 no_space" in result.output
