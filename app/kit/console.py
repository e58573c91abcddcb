"""Terminal output for the CLI: aligned tables for people, a progress line on stderr.

Progress is drawn only when asked (`--progress`) or when stderr is a terminal, so piped
or captured stderr never fills with carriage returns; stdout is never touched by it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def wants_progress(flag: bool | None) -> bool:
    """`--progress` / `--no-progress` when given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; integer columns right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]

    def line(row: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in cells)])


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


# Bars that drew a line and have not ended it (an error interrupted them).
_unfinished: list[ProgressBar] = []


def end_progress_lines() -> None:
    """End any progress line left open, so what follows starts on a line of its own."""
    while _unfinished:
        bar = _unfinished.pop()
        bar.stream.write("\n")
        bar.stream.flush()


class ProgressBar:
    """`bar(done, total)` redraws one line on stderr: label, bar, counts, rate and ETA.

    Redraws at most every REDRAW_SECONDS; the last call (done == total) always draws and
    ends the line with the elapsed time."""

    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.width = 0

    def __call__(self, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self.drawn_at < REDRAW_SECONDS:
            return
        self.drawn_at = now
        elapsed = now - self.started
        fraction = done / total if total else 1.0
        filled = round(BAR_WIDTH * fraction)
        text = (
            f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
            f" {fraction:4.0%} {done}/{total} {self.unit}"
        )
        if finished:
            text += f" in {duration(elapsed)}"
        elif done and elapsed > 0:
            rate = done / elapsed
            text += f", {rate:,.0f}/s, ETA {duration((total - done) / rate)}"
        if note and not finished:
            text += f" - {note}"
        # Pad over what the previous, longer line left behind.
        self.stream.write("\r" + text.ljust(self.width) + ("\n" if finished else ""))
        self.stream.flush()
        self.width = len(text)
        if finished and self in _unfinished:
            _unfinished.remove(self)
        elif not finished and self not in _unfinished:
            _unfinished.append(self)
