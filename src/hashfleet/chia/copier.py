"""Copy Chia plots from many source directories to many target disks, as chia-tea's
copy-plots does: balanced, space-checked, resumable and verified before anything is deleted.

Rules, per plot file:

- A plot already at a target with the same size and BLAKE2b hash is not copied again
  (``skipped``); with ``delete_source`` the source goes, since a verified copy exists.
- Otherwise the target is the one with the fewest copies running (at most
  ``parallel_per_target`` each) whose free space, minus what running copies will still
  write there and a safety ``margin``, holds the rest of the plot. No target fits: the plot
  waits (``no_space`` when nothing is running that could free the situation).
- Data goes to ``name.plot.part``; an existing ``.part`` whose bytes equal the source's first
  bytes is continued (resume after a disconnect), anything else is started over. Then fsync,
  verify (size, and BLAKE2b of both files), rename to ``name.plot``, fsync the directory.
- The source is deleted only after that verification, and only with ``delete_source``.
- A target failing with ``OSError`` mid-copy (disk unplugged, NFS gone) keeps its ``.part``;
  the plot goes back in the queue for another target or for the same one later, up to
  ``retries`` times; the failing target rests ``target_cooldown`` seconds. An error on one
  plot never stops the others.

Threads, not asyncio: every step is blocking file I/O (``read``/``write``/``fsync`` have
no asynchronous form in the standard library), so asyncio would just hand each call to a
thread pool anyway. A pool of worker threads, each copying one file with large buffered
reads, plus a scheduler loop on the caller's thread that assigns work, is simpler and as
fast; the copies are bound by disk, not by the GIL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 8 * 1024 * 1024
PART = ".part"
DEFAULT_MARGIN = 1 << 30  # leave 1 GiB free on every target

FreeSpace = Callable[[Path], int]
WriteHook = Callable[[Path, int], None]  # (part file, offset) before each chunk is written
Progress = Callable[["Job", int], None]  # (job, bytes done so far)


def disk_free(path: Path) -> int:
    """Free bytes on the file system of ``path``."""
    return shutil.disk_usage(path).free


@dataclass(slots=True)
class Job:
    """One plot to copy."""

    source: Path
    size: int
    attempts: int = 0
    target: Path | None = None
    resumed_from: int = 0
    reserved: int = 0  # bytes this copy will still write to its target
    failed_on: set[Path] = field(default_factory=set)


@dataclass(slots=True)
class Outcome:
    """What happened to one plot."""

    source: Path
    status: str  # "copied", "skipped", "failed", "no_space"
    target: Path | None = None
    resumed_from: int = 0
    deleted_source: bool = False
    error: str | None = None


@dataclass(slots=True)
class Summary:
    """Every plot's outcome, in the order they finished."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many plots ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """No plot failed or was left for lack of space."""
        return all(o.status in ("copied", "skipped") for o in self.outcomes)


def find_plots(sources: Iterable[Path]) -> list[Path]:
    """The ``*.plot`` files directly in each source directory, largest first."""
    found: list[Path] = []
    for src in sources:
        with contextlib.suppress(OSError):
            found += [p for p in src.iterdir() if p.suffix == ".plot" and p.is_file()]
    return sorted(found, key=lambda p: (-p.stat().st_size, p.name))


def file_hash(path: Path, limit: int | None = None) -> bytes:
    """BLAKE2b of ``path`` (its first ``limit`` bytes if given)."""
    digest = hashlib.blake2b()
    left = limit
    with path.open("rb") as fh:
        while left is None or left > 0:
            chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.digest()


def same_file(a: Path, b: Path) -> bool:
    """Same size and same BLAKE2b."""
    try:
        return a.stat().st_size == b.stat().st_size and file_hash(a) == file_hash(b)
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Copier:
    """Copies plots from ``sources`` to ``targets``; :meth:`run` does the whole job."""

    def __init__(
        self,
        sources: list[Path],
        targets: list[Path],
        *,
        parallel_per_target: int = 1,
        delete_source: bool = False,
        margin: int = DEFAULT_MARGIN,
        retries: int = 3,
        target_cooldown: float = 30.0,
        free_space: FreeSpace = disk_free,
        progress: Progress | None = None,
        write_hook: WriteHook | None = None,
        chunk: int = CHUNK,
    ) -> None:
        """``free_space`` and ``write_hook`` exist so tests can fake full or vanishing disks."""
        if parallel_per_target < 1:
            raise ValueError("parallel_per_target must be at least 1")
        self.sources = sources
        self.targets = targets
        self.parallel = parallel_per_target
        self.delete_source = delete_source
        self.margin = margin
        self.retries = retries
        self.cooldown = target_cooldown
        self.free_space = free_space
        self.progress = progress
        self.write_hook = write_hook
        self.chunk = chunk
        self._lock = threading.Lock()
        self.running: dict[Path, int] = {t: 0 for t in targets}
        self.reserved: dict[Path, int] = {t: 0 for t in targets}
        self.resting: dict[Path, float] = {}
        self.peak: dict[Path, int] = {t: 0 for t in targets}  # most copies at once, per target

    # -- scheduling --------------------------------------------------------------------

    def pick_target(self, job: Job) -> Path | None:
        """The target with the fewest copies running that has room; ``None`` if none has."""
        now = time.monotonic()
        best: tuple[int, int, Path] | None = None
        for target in self.targets:
            if self.running[target] >= self.parallel or self.resting.get(target, 0.0) > now:
                continue
            part = target / (job.source.name + PART)
            try:
                have = part.stat().st_size if part.exists() else 0
                free = self.free_space(target)
            except OSError:
                continue  # target gone: not a candidate now
            need = max(0, job.size - have)
            if free - self.reserved[target] - self.margin < need:
                continue
            # Fewest running first; among equals, a target holding a .part of this plot.
            key = (self.running[target], 0 if have else 1, target)
            if best is None or key[:2] < best[:2]:
                best = key
        return None if best is None else best[2]

    def already_present(self, source: Path, size: int) -> Path | None:
        """A target that holds a verified copy of ``source``."""
        for target in self.targets:
            dest = target / source.name
            try:
                if dest.is_file() and dest.stat().st_size == size and same_file(source, dest):
                    return target
            except OSError:
                continue
        return None

    def run(self) -> Summary:
        """Copy every plot found in the sources; returns when all are done or given up."""
        summary = Summary()
        pending: list[Job] = []
        for src in find_plots(self.sources):
            size = src.stat().st_size
            present = self.already_present(src, size)
            if present is not None:
                summary.outcomes.append(self._skip(src, present))
            else:
                pending.append(Job(src, size))
        workers = max(1, self.parallel * len(self.targets))
        futures: dict[Future[Outcome], Job] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plotcopy") as pool:
            while pending or futures:
                for job in list(pending):
                    target = self.pick_target(job)
                    if target is None:
                        continue
                    pending.remove(job)
                    job.target = target
                    job.attempts += 1
                    part = target / (job.source.name + PART)
                    have = part.stat().st_size if part.exists() else 0
                    job.reserved = max(0, job.size - have)
                    with self._lock:
                        self.running[target] += 1
                        self.peak[target] = max(self.peak[target], self.running[target])
                        self.reserved[target] += job.reserved
                    futures[pool.submit(self._copy, job, target)] = job
                if not futures:
                    if any(r > time.monotonic() for r in self.resting.values()):
                        time.sleep(0.05)  # a resting target may take the work soon
                        continue
                    for job in pending:  # nothing runs and nothing fits: give up on these
                        why = "no reachable target has room"
                        summary.outcomes.append(Outcome(job.source, "no_space", error=why))
                    break
                done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = futures.pop(fut)
                    assert job.target is not None
                    with self._lock:
                        self.running[job.target] -= 1
                        self.reserved[job.target] -= job.reserved
                    outcome = fut.result()
                    if outcome.status == "retry":
                        self.resting[job.target] = time.monotonic() + self.cooldown
                        job.failed_on.add(job.target)
                        if job.attempts <= self.retries:
                            pending.append(job)
                            continue
                        outcome.status = "failed"
                    summary.outcomes.append(outcome)
        return summary

    def _skip(self, source: Path, present: Path) -> Outcome:
        deleted = False
        if self.delete_source:
            with contextlib.suppress(OSError):
                source.unlink()
                deleted = True
        return Outcome(source, "skipped", target=present, deleted_source=deleted)

    # -- one copy (worker thread) ------------------------------------------------------

    def _copy(self, job: Job, target: Path) -> Outcome:
        """Copy one plot to ``target``; never raises (errors are outcomes)."""
        src = job.source
        part = target / (src.name + PART)
        dest = target / src.name
        try:
            offset = self._resume_offset(src, part)
            job.resumed_from = offset
            self._write(src, part, offset, job)
        except OSError as exc:
            # The target (or the source disk) went away: keep the .part for a resume.
            return Outcome(src, "retry", target=target, error=f"{type(exc).__name__}: {exc}")
        try:
            if part.stat().st_size != job.size or file_hash(part) != file_hash(src):
                part.unlink()  # a corrupt copy must never become a plot
                return Outcome(src, "retry", target=target, error="verification failed")
            os.replace(part, dest)
            _fsync_dir(target)
        except OSError as exc:
            return Outcome(src, "retry", target=target, error=f"{type(exc).__name__}: {exc}")
        deleted = False
        error = None
        if self.delete_source:
            try:
                src.unlink()
                deleted = True
            except OSError as exc:
                error = f"copied, but the source stays: {exc}"
        return Outcome(src, "copied", target=target, resumed_from=job.resumed_from,
                       deleted_source=deleted, error=error)  # fmt: skip

    def _resume_offset(self, src: Path, part: Path) -> int:
        """How many bytes of an existing ``.part`` are a verified prefix of ``src``."""
        if not part.exists():
            return 0
        have = part.stat().st_size
        if 0 < have <= src.stat().st_size and file_hash(part) == file_hash(src, have):
            return have
        part.unlink()  # not ours, or longer than the source: start over
        return 0

    def _write(self, src: Path, part: Path, offset: int, job: Job) -> None:
        with src.open("rb") as fin, part.open("ab" if offset else "wb") as fout:
            fin.seek(offset)
            done = offset
            while True:
                chunk = fin.read(self.chunk)
                if not chunk:
                    break
                if self.write_hook is not None:
                    self.write_hook(part, done)
                fout.write(chunk)
                done += len(chunk)
                if self.progress is not None:
                    self.progress(job, done)
            fout.flush()
            os.fsync(fout.fileno())
