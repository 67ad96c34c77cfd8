"""``hashfleet chia``: Chia farm tools; ``copy-plots`` moves plots onto farming disks."""

from __future__ import annotations

import threading
from pathlib import Path

import typer

app = typer.Typer(name="chia", help="Chia farm tools.", no_args_is_help=True)


@app.callback()
def chia() -> None:
    """Chia farm tools (a group even with one command, so ``copy-plots`` keeps its name)."""


@app.command("copy-plots")
def copy_plots(
    source: list[Path] = typer.Option(
        ...,
        "--source",
        "-s",
        help="Directory with finished plots (repeatable).",
        exists=True,
        file_okay=False,
    ),
    target: list[Path] = typer.Option(
        ...,
        "--target",
        "-t",
        help="Farming disk directory (repeatable).",
        exists=True,
        file_okay=False,
    ),
    parallel_per_target: int = typer.Option(1, min=1, help="Copies at once onto one target."),
    delete_source: bool = typer.Option(False, help="Delete each plot once its copy is verified."),
    margin_mib: int = typer.Option(1024, min=0, help="Free space to leave on every target."),
) -> None:
    """Copy plots from many sources to many targets: balanced, resumable, verified."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.table import Table

    from hashfleet.chia.copier import Copier, Job

    console = Console()
    tasks: dict[Path, TaskID] = {}
    lock = threading.Lock()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  transient=False) as progress:  # fmt: skip

        def on_progress(job: Job, done: int) -> None:
            with lock:
                if job.source not in tasks:
                    tasks[job.source] = progress.add_task(job.source.name, total=job.size)
                task = tasks[job.source]
            target = job.target.name if job.target else "?"
            progress.update(task, completed=done,
                            description=f"{job.source.name} → {target}")  # fmt: skip

        copier = Copier(list(source), list(target), parallel_per_target=parallel_per_target,
                        delete_source=delete_source, margin=margin_mib << 20,
                        progress=on_progress)  # fmt: skip
        summary = copier.run()
    table = Table(title="copy-plots")
    for column in ("plot", "status", "target", "resumed at", "source deleted", "note"):
        table.add_column(column)
    for o in summary.outcomes:
        table.add_row(o.source.name, o.status, str(o.target or ""),
                      str(o.resumed_from or ""), "yes" if o.deleted_source else "",
                      o.error or "")  # fmt: skip
    console.print(table)
    counts = ", ".join(f"{summary.count(s)} {s}" for s in ("copied", "skipped", "failed",
                                                          "no_space"))  # fmt: skip
    console.print(counts)
    if not summary.ok:
        raise typer.Exit(1)
