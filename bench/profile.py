"""Where the app's CPU time goes during a row (`--profile`): py-spy samples the served
process from outside while the load runs, and the stacks are summed up by library.

Each sample is charged to the innermost frame of a library we name (`LIBRARIES`), so
`self` says which library's own code was running: the app's, SQLAlchemy's, graphql-core's,
the event loop's. `within` says how much of the time was spent under our own
functions (anything below them, libraries included), to find the expensive steps.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (name, path fragment) — the first match wins, so more specific fragments go first.
LIBRARIES = (
    ("sqlmodel", "/sqlmodel/"),
    ("sqlalchemy", "/sqlalchemy/"),
    ("asyncpg", "/asyncpg/"),
    ("strawberry", "/strawberry/"),
    ("graphql-core", "/graphql/"),
    ("starlette", "/starlette/"),
    ("uvicorn", "/uvicorn/"),
    ("pyjwt", "/jwt/"),
    ("limits", "/limits/"),
    ("logging", "/logging/"),
    ("asyncio", "/asyncio/"),
    ("app", "/app/"),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
TOP = 15


@dataclass
class Summary:
    samples: int = 0
    self_by_library: Counter[str] = field(default_factory=Counter)
    within_app: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        def share(counter: Counter[str]) -> dict[str, float]:
            total = self.samples or 1
            return {name: round(count / total * 100, 1) for name, count in counter.most_common(TOP)}

        return {
            "samples": self.samples,
            "self_pct_by_library": share(self.self_by_library),
            "within_app_function_pct": share(self.within_app),
        }


def library_of(file: str) -> str:
    for name, fragment in LIBRARIES:
        if fragment in file:
            return name
    return "other"


def summarize(collapsed: str) -> Summary:
    """Sum py-spy's raw output (`frame;frame;… count` per line, outermost first)."""
    summary = Summary()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parse(frame) for frame in stack.split(";")]
        if _idle(frames[-1]):
            continue
        summary.samples += count
        libraries = [library_of(file) for _, file in frames]
        innermost = next((lib for lib in reversed(libraries) if lib != "other"), "other")
        summary.self_by_library[innermost] += count
        seen = {
            f"{_module(file)}.{function}"
            for (function, file), lib in zip(frames, libraries, strict=True)
            if lib == "app"
        }
        for name in seen:
            summary.within_app[name] += count
    return summary


def _idle(frame: tuple[str, str]) -> bool:
    """A pool thread waiting for work: py-spy counts its blocking get() as running."""
    function, file = frame
    return function == "_worker" and file.endswith("concurrent/futures/thread.py")


def _parse(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame.strip())
    return (match["function"], match["file"]) if match else (frame, "")


def _module(file: str) -> str:
    tail = file.split("/app/", 1)[-1].removesuffix(".py")
    return "app." + tail.replace("/", ".")


class Profiler:
    """py-spy attached to `pid` (and its children) until `stop()`."""

    def __init__(self, pid: int, output: Path, *, rate: int = 250) -> None:
        self.output = output
        executable = shutil.which("py-spy") or str(Path(__file__).parents[1] / ".venv/bin/py-spy")
        self.process = subprocess.Popen(  # noqa: S603  (py-spy, arguments we built)
            [
                executable,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--full-filenames",
                "--format",
                "raw",
                "--rate",
                str(rate),
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> Summary:
        """Stop sampling (py-spy writes its file on SIGINT) and sum up what it saw."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=60)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {stderr.decode(errors='replace')}")
        return summarize(self.output.read_text())


def lines(name: str, summary: dict[str, Any]) -> list[str]:
    """Two lines for the report: self time by library, and the costliest app functions."""
    libs = ", ".join(f"{lib} {pct:g}%" for lib, pct in summary["self_pct_by_library"].items())
    within = summary["within_app_function_pct"]
    funcs = ", ".join(f"{fn} {pct:g}%" for fn, pct in list(within.items())[:8])
    return [f"{name}: {summary['samples']} samples; self: {libs}", f"    under: {funcs}"]
