"""CPU time from /proc: the app's process tree, every PostgreSQL server process, the load
generator, and the whole machine, so each measurement can say what a request cost whom.

A process tree's time is the live processes' own time plus what the root collected from
children it already reaped (`cutime`/`cstime`): a backend that exits mid-measurement
(a connection the pool closed) is still counted, through the postmaster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# /proc/<pid>/stat fields after the command name: state is field 3, utime 14 ... cstime 17.
_UTIME = 14 - 3
_CUTIME = 16 - 3


def _fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone, or not ours to read
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _own_ticks(fields: list[str]) -> int:
    return int(fields[_UTIME]) + int(fields[_UTIME + 1])


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    return parents


def parent_of(pid: int) -> int | None:
    fields = _fields(pid)
    return None if fields is None else int(fields[1])


def tree_ticks(root: int | None, parents: dict[int, int] | None = None) -> int | None:
    """CPU ticks of `root` and all its descendants, including reaped children; None when
    `root` is not (or no longer) readable."""
    if root is None:
        return None
    root_fields = _fields(root)
    if root_fields is None:
        return None
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total = int(root_fields[_CUTIME]) + int(root_fields[_CUTIME + 1])
    stack = [root]
    while stack:
        pid = stack.pop()
        fields = root_fields if pid == root else _fields(pid)
        if fields is not None:
            total += _own_ticks(fields)
        stack.extend(children.get(pid, ()))
    return total


def machine_busy_ticks() -> int:
    """Ticks all cores spent on anything but idle and iowait since boot."""
    first = (PROC / "stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return user + nice + system + irq + softirq + steal


@dataclass(frozen=True)
class Sample:
    app: int | None
    postgres: int | None
    client: int | None
    machine: int


@dataclass(frozen=True)
class Usage:
    """CPU seconds spent between two samples (None where a side could not be read)."""

    app: float | None
    postgres: float | None
    client: float | None
    machine: float


@dataclass
class Meter:
    """Samples the app tree, the PostgreSQL tree and a client process at once."""

    app_pid: int | None = None
    postgres_pid: int | None = None

    def sample(self, client_pid: int | None = None) -> Sample:
        parents = _parents()
        return Sample(
            app=tree_ticks(self.app_pid, parents),
            postgres=tree_ticks(self.postgres_pid, parents),
            client=tree_ticks(client_pid, parents),
            machine=machine_busy_ticks(),
        )


def usage(before: Sample, after: Sample) -> Usage:
    def seconds(start: int | None, end: int | None) -> float | None:
        if start is None or end is None:
            return None
        return (end - start) / TICKS_PER_SECOND

    return Usage(
        app=seconds(before.app, after.app),
        postgres=seconds(before.postgres, after.postgres),
        client=seconds(before.client, after.client),
        machine=(after.machine - before.machine) / TICKS_PER_SECOND,
    )
