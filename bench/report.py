"""The run's outcome for people (a table on stdout) and for tools (JSON).

Ratios compare throughputs measured in the same run; the targets are issue 5's:
GraphQL payInvoice at least 0.25 of pgbench tpcb-like, REST 0.30 of it, GraphQL 0.85 of
REST, one hot wallet half the uniform throughput, a page of 50 the same cost at every
table size (p99 within 1.5 times), nothing lost, the ledger sound. Against the floor (f,
the same payments by a hand-written Starlette + asyncpg app, the performance issue's
round 2): REST at least 0.8 of it, GraphQL 0.6.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.measure import Result

PASS, FAIL, UNKNOWN = "✓", "✗", "?"
# The least share of the floor's throughput (row f, same run) each edge must reach.
FLOOR_TARGETS = {"REST": 0.8, "GraphQL": 0.6}


@dataclass(frozen=True)
class Verdict:
    name: str
    meaning: str
    value: float | None
    target: float | None = None  # a minimum, or a maximum when `at_most`
    at_most: bool = False
    note: str = ""
    passed_override: bool | None = None

    @property
    def passed(self) -> bool | None:
        if self.passed_override is not None:
            return self.passed_override
        if self.value is None or self.target is None:
            return None
        return self.value <= self.target if self.at_most else self.value >= self.target

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def find(rows: list[Result], key: str, scenario: str) -> Result | None:
    return next((r for r in rows if r.key == key and r.scenario == scenario), None)


def _ratio(top: Result | None, bottom: Result | None) -> float | None:
    if top is None or bottom is None or bottom.throughput <= 0:
        return None
    return top.throughput / bottom.throughput


def ratios(rows: list[Result]) -> list[Verdict]:
    a = find(rows, "a", "-")
    b, c, d, f = (find(rows, key, "uniform") for key in "bcdf")
    verdicts = [
        Verdict("c/a", "REST pay / pgbench tpcb-like", _ratio(c, a), 0.30),
        Verdict("d/a", "GraphQL payInvoice / pgbench tpcb-like", _ratio(d, a), 0.25),
        Verdict("d/c", "GraphQL payInvoice / REST pay", _ratio(d, c), 0.85),
        Verdict("b/a", "pay SQL replayed / pgbench tpcb-like", _ratio(b, a)),
        Verdict("c/b", "REST pay / its own SQL replayed", _ratio(c, b)),
        Verdict("d/b", "GraphQL payInvoice / its own SQL replayed", _ratio(d, b)),
        Verdict("c/f", "REST pay / the floor", _ratio(c, f), FLOOR_TARGETS["REST"]),
        Verdict("d/f", "GraphQL payInvoice / the floor", _ratio(d, f), FLOOR_TARGETS["GraphQL"]),
        Verdict("f/a", "the floor / pgbench tpcb-like", _ratio(f, a)),
        Verdict(
            "d webhooks/d",
            "GraphQL payInvoice with a webhook endpoint / without",
            _ratio(find(rows, "d", "webhooks"), d),
            note=webhook_lag_note(find(rows, "d", "webhooks")),
        ),
    ]
    for key, label, target in (
        ("b", "pay SQL", None),
        ("c", "REST", 0.5),
        ("d", "GraphQL", 0.5),
        ("f", "floor", None),
    ):
        uniform, hot = find(rows, key, "uniform"), find(rows, key, "hot")
        verdicts.append(
            Verdict(
                f"{key} hot/uniform",
                f"{label}: one hot wallet / many",
                _ratio(hot, uniform),
                target,
            )
        )
    pages = [r for r in rows if r.key == "e" and r.name.startswith("invoices(")]
    p99s = [r.latency_ms.get("p99") for r in pages]
    if len(pages) >= 2 and all(p is not None and p > 0 for p in p99s):
        known = [p for p in p99s if p is not None]
        verdicts.append(
            Verdict(
                "page p99 max/min",
                f"page of 50 at {', '.join(r.scenario for r in pages)}",
                max(known) / min(known),
                1.5,
                at_most=True,
                note=f"largest/smallest table: {known[-1] / known[0]:.2f}",
            )
        )
    return verdicts


def webhook_lag_note(row: Result | None) -> str:
    """The webhooks row's delivery lag (bench.webhooks), beside its ratio."""
    figures = None if row is None else row.detail.get("webhooks")
    if not figures or figures["lag_ms"]["p50"] is None:
        return ""
    lag = figures["lag_ms"]
    return f"{figures['events']} delivered, lag p50 {lag['p50']:.0f} ms, p99 {lag['p99']:.0f} ms"


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[Result]) -> str:
    header = (
        f"{'':2} {'measurement':<30} {'scenario':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'errors':>6} {'app ms/req':>10} {'pg ms/req':>9} {'load ms/req':>11} {'other cpu':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.key:2} {r.name:<30} {r.scenario:<10} {r.throughput:>8.1f}"
            f" {_cell(r.latency_ms.get('p50'), 2):>8} {_cell(r.latency_ms.get('p99'), 2):>8}"
            f" {r.errors:>6} {_cell(r.app_cpu_ms, 2):>10} {_cell(r.pg_cpu_ms, 2):>9}"
            f" {_cell(r.client_cpu_ms, 2):>11}"
            f" {_cell(r.other_cpu_pct, 0) + '%' if r.other_cpu_pct is not None else '-':>9}"
        )
    return "\n".join(lines)


def verdict_lines(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        mark = {True: PASS, False: FAIL, None: UNKNOWN}[v.passed]
        if v.target is None and v.passed_override is None:
            mark = " "
        value = "-" if v.value is None else f"{v.value:.2f}"
        target = ""
        if v.target is not None:
            target = f"{'≤' if v.at_most else '≥'} {v.target:.2f}"
        note = f"  ({v.note})" if v.note else ""
        lines.append(f"  {mark} {v.name:<18} {value:>7} {target:<7} {v.meaning}{note}")
    return "\n".join(lines)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(partial, path)
