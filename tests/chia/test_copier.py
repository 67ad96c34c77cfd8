"""The plot copier on small fake plots in tmp dirs: balance, space, resume, verify, retry."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hashfleet.chia.copier import PART, Copier, file_hash

SIZE = 64 * 1024 + 123  # a "plot": a few chunks of the test chunk size
CHUNK = 16 * 1024


def make_plots(src: Path, n: int, size: int = SIZE) -> list[Path]:
    src.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = src / f"plot-k32-{i:03d}.plot"
        p.write_bytes(os.urandom(size))
        out.append(p)
    return out


def dirs(tmp: Path, *names: str) -> list[Path]:
    out = [tmp / n for n in names]
    for d in out:
        d.mkdir(parents=True, exist_ok=True)
    return out


def test_copies_everything_balanced_and_verified(tmp_path: Path) -> None:
    plots = make_plots(tmp_path / "src", 6)
    hashes = {p.name: file_hash(p) for p in plots}
    targets = dirs(tmp_path, "t1", "t2", "t3")
    copier = Copier([tmp_path / "src"], targets, parallel_per_target=2, margin=0, chunk=CHUNK)
    summary = copier.run()
    assert summary.ok and summary.count("copied") == 6
    per_target = [sorted(p.name for p in t.iterdir()) for t in targets]
    assert [len(names) for names in per_target] == [2, 2, 2]  # fewest-running target first
    for t in targets:
        for p in t.iterdir():
            assert not p.name.endswith(PART) and file_hash(p) == hashes[p.name]
    assert all(p.exists() for p in plots)  # no --delete-source: sources stay
    assert max(copier.peak.values()) <= 2


def test_delete_source_only_after_verified_copy(tmp_path: Path) -> None:
    plots = make_plots(tmp_path / "src", 2)
    [target] = dirs(tmp_path, "t")
    seen: list[bool] = []

    def hook(part: Path, offset: int) -> None:
        source = tmp_path / "src" / part.name.removesuffix(PART)
        seen.append(source.exists())  # while its copy is written, a source is there

    summary = Copier([tmp_path / "src"], [target], delete_source=True, margin=0,
                     chunk=CHUNK, write_hook=hook).run()  # fmt: skip
    assert summary.count("copied") == 2 and all(o.deleted_source for o in summary.outcomes)
    assert all(seen) and not any(p.exists() for p in plots)


def test_skips_plot_already_at_a_target(tmp_path: Path) -> None:
    [plot] = make_plots(tmp_path / "src", 1)
    t1, t2 = dirs(tmp_path, "t1", "t2")
    shutil.copyfile(plot, t2 / plot.name)
    summary = Copier([tmp_path / "src"], [t1, t2], margin=0).run()
    assert [o.status for o in summary.outcomes] == ["skipped"]
    assert summary.outcomes[0].target == t2 and list(t1.iterdir()) == []


def test_same_name_different_content_is_copied_elsewhere(tmp_path: Path) -> None:
    [plot] = make_plots(tmp_path / "src", 1)
    t1, t2 = dirs(tmp_path, "t1", "t2")
    (t1 / plot.name).write_bytes(os.urandom(SIZE))  # same size, other bytes
    summary = Copier([tmp_path / "src"], [t1, t2], margin=0, chunk=CHUNK,
                     parallel_per_target=1).run()  # fmt: skip
    assert summary.outcomes[0].status == "copied"


def test_resumes_half_written_part(tmp_path: Path) -> None:
    [plot] = make_plots(tmp_path / "src", 1)
    [target] = dirs(tmp_path, "t")
    half = SIZE // 2
    (target / (plot.name + PART)).write_bytes(plot.read_bytes()[:half])
    written: list[int] = []
    summary = Copier([tmp_path / "src"], [target], margin=0, chunk=CHUNK,
                     write_hook=lambda part, off: written.append(off)).run()  # fmt: skip
    [outcome] = summary.outcomes
    assert outcome.status == "copied" and outcome.resumed_from == half
    assert written[0] == half  # nothing before the verified prefix was written again
    assert file_hash(target / plot.name) == file_hash(plot)


def test_corrupt_part_is_started_over(tmp_path: Path) -> None:
    [plot] = make_plots(tmp_path / "src", 1)
    [target] = dirs(tmp_path, "t")
    (target / (plot.name + PART)).write_bytes(b"\0" * 1000)
    [outcome] = Copier([tmp_path / "src"], [target], margin=0, chunk=CHUNK).run().outcomes
    assert outcome.status == "copied" and outcome.resumed_from == 0
    assert file_hash(target / plot.name) == file_hash(plot)


def test_full_target_is_skipped(tmp_path: Path) -> None:
    make_plots(tmp_path / "src", 3)
    full, roomy = dirs(tmp_path, "full", "roomy")

    def free(t: Path) -> int:
        return 10 if t == full else 10 * SIZE

    summary = Copier([tmp_path / "src"], [full, roomy], parallel_per_target=3, margin=SIZE,
                     free_space=free, chunk=CHUNK).run()  # fmt: skip
    assert summary.count("copied") == 3 and list(full.iterdir()) == []
    assert all(o.target == roomy for o in summary.outcomes)


def test_no_room_anywhere_gives_up_and_keeps_sources(tmp_path: Path) -> None:
    plots = make_plots(tmp_path / "src", 2)
    [target] = dirs(tmp_path, "t")
    summary = Copier([tmp_path / "src"], [target], delete_source=True, free_space=lambda t: 0,
                     margin=0).run()  # fmt: skip
    assert summary.count("no_space") == 2 and not summary.ok and all(p.exists() for p in plots)


def test_reservations_count_running_copies(tmp_path: Path) -> None:
    make_plots(tmp_path / "src", 3)
    [target] = dirs(tmp_path, "t")
    # Room for two plots: the third must not start while two are running and then fits
    # once the real free space (here fixed) allows it again.
    summary = Copier([tmp_path / "src"], [target], parallel_per_target=3, margin=0,
                     free_space=lambda t: 2 * SIZE, chunk=CHUNK).run()  # fmt: skip
    assert summary.count("copied") == 3


def test_target_vanishing_mid_copy_keeps_part_and_retries_elsewhere(tmp_path: Path) -> None:
    [plot] = make_plots(tmp_path / "src", 1)
    flaky, good = dirs(tmp_path, "a_flaky", "b_good")

    def hook(part: Path, offset: int) -> None:
        if part.parent == flaky and offset >= 2 * CHUNK:
            raise OSError(5, "Input/output error")  # the USB disk went away

    summary = Copier([tmp_path / "src"], [flaky, good], margin=0, chunk=CHUNK,
                     write_hook=hook, target_cooldown=60.0).run()  # fmt: skip
    [outcome] = summary.outcomes
    assert outcome.status == "copied" and outcome.target == good
    assert (flaky / (plot.name + PART)).stat().st_size == 2 * CHUNK  # left for a resume
    assert file_hash(good / plot.name) == file_hash(plot)


def test_target_back_later_resumes_its_part(tmp_path: Path) -> None:
    make_plots(tmp_path / "src", 1)
    [target] = dirs(tmp_path, "t")
    failures = [True]

    def hook(part: Path, offset: int) -> None:
        if failures and offset >= CHUNK:
            failures.pop()
            raise OSError(107, "Transport endpoint is not connected")

    summary = Copier([tmp_path / "src"], [target], margin=0, chunk=CHUNK, write_hook=hook,
                     target_cooldown=0.0).run()  # fmt: skip
    [outcome] = summary.outcomes
    assert outcome.status == "copied" and outcome.resumed_from == CHUNK


def test_removed_target_directory_fails_only_that_plot_route(tmp_path: Path) -> None:
    make_plots(tmp_path / "src", 2)
    gone, good = dirs(tmp_path, "gone", "good")
    gone.rmdir()
    summary = Copier([tmp_path / "src"], [gone, good], margin=0, chunk=CHUNK).run()
    assert summary.count("copied") == 2 and all(o.target == good for o in summary.outcomes)


def test_gives_up_after_retries(tmp_path: Path) -> None:
    plots = make_plots(tmp_path / "src", 2)
    [target] = dirs(tmp_path, "t")

    def hook(part: Path, offset: int) -> None:
        if part.name.startswith(plots[0].name):
            raise OSError(28, "No space left on device")

    summary = Copier([tmp_path / "src"], [target], margin=0, chunk=CHUNK, retries=2,
                     write_hook=hook, target_cooldown=0.0, delete_source=True).run()  # fmt: skip
    status = {o.source.name: o for o in summary.outcomes}
    assert status[plots[0].name].status == "failed" and plots[0].exists()
    assert status[plots[1].name].status == "copied"  # one plot's errors never stop others


def test_parallel_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Copier([tmp_path], [tmp_path], parallel_per_target=0)
