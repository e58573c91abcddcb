"""Terminal output for the CLI, drawn by rich: aligned tables for people, a progress bar on
stderr.

Progress is drawn only when asked (`--progress`) or when stderr is a terminal; stdout is
never touched by it. On a terminal rich redraws the bar in place; piped, it writes the
last state once, as plain text (rich sends no ANSI codes to what is not a terminal).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 24
REFRESHES_PER_SECOND = 10
# Wide enough that rich never wraps or cuts a cell: the tables go to files and pipes too.
TABLE_WIDTH = 10_000


def wants_progress(flag: bool | None) -> bool:
    """`--progress` / `--no-progress` when given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell, two spaces apart; integer columns right-aligned.
    Plain text (no borders, no styles), so it reads the same piped as on a terminal."""
    grid = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, header_style="")
    for i, header in enumerate(headers):
        numeric = bool(rows) and all(isinstance(row[i], int) for row in rows)
        grid.add_column(header, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
    out = io.StringIO()
    Console(file=out, width=TABLE_WIDTH, color_system=None, highlight=False).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


class RateColumn(ProgressColumn):
    """Units per second while running (rich's own speed column is for bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


# Bars started and not finished (an error interrupted them).
_unfinished: list[ProgressBar] = []


def end_progress_lines() -> None:
    """Stop any bar left drawing, so what follows starts on a line of its own."""
    while _unfinished:
        _unfinished.pop().progress.stop()


class ProgressBar:
    """`bar(done, total, note)` moves one rich progress bar on stderr: label, bar, percent,
    counts, rate, ETA (elapsed time once done) and the note; done == total ends it."""

    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        console = Console(file=stream if stream is not None else sys.stderr, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=BAR_WIDTH),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            RateColumn(),
            TimeRemainingColumn(elapsed_when_finished=True),
            TextColumn("{task.fields[note]}"),
            console=console,
            refresh_per_second=REFRESHES_PER_SECOND,
            # Nothing else prints while a bar draws; rich must not swap sys.stdout/stderr.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.progress.add_task(label, total=None, unit=unit, note="")

    def __call__(self, done: int, total: int, note: str = "") -> None:
        finished = done >= total
        note = "" if finished else note  # what it was doing; done, the elapsed time says it
        self.progress.update(self.task, completed=done, total=total, note=note)
        if self not in _unfinished:
            self.progress.start()  # draws this first state at once
            _unfinished.append(self)
        if finished:
            _unfinished.remove(self)
            self.progress.stop()
