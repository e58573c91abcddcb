"""The run as a PNG: throughput (with the targets drawn against pgbench tpcb-like and
against the floor), latency and CPU cost per request, one bar per measurement."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.measure import Result
from bench.report import FLOOR_TARGETS, Verdict, find


def _label(row: Result) -> str:
    scenario = "" if row.scenario == "-" else f" [{row.scenario}]"
    return f"{row.key} {row.name}{scenario}"


def draw(rows: list[Result], verdicts: list[Verdict], title: str, path: Path) -> None:
    labels = [_label(r) for r in rows]
    positions = list(range(len(rows)))
    figure, (speed, latency, cost) = plt.subplots(
        1, 3, figsize=(18, 0.45 * len(rows) + 2.5), sharey=True
    )
    colours = [
        "#888888" if r.key in "abf" else "#3a7bd5" if r.key in "cd" else "#5aa469" for r in rows
    ]

    speed.barh(positions, [r.throughput for r in rows], color=colours)
    tpcb, floor = find(rows, "a", "-"), find(rows, "f", "uniform")
    shares = (
        (tpcb, "a", {"REST": 0.30, "GraphQL": 0.25}, "#d9534f"),
        (floor, "f", FLOOR_TARGETS, "#8e44ad"),
    )
    for base, key, targets, colour in shares:
        if base is None or base.throughput <= 0:
            continue
        for what, share in targets.items():
            speed.axvline(
                base.throughput * share,
                color=colour,
                linestyle="--" if what == "REST" else ":",
                linewidth=1,
                label=f"{what} target: {share:.2f} of {key}",
            )
    if speed.get_legend_handles_labels()[0]:
        speed.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=8)
    speed.set_title("throughput (req/s)")
    speed.set_yticks(positions, labels)
    speed.invert_yaxis()

    p50 = [r.latency_ms.get("p50") or 0.0 for r in rows]
    p99 = [r.latency_ms.get("p99") or 0.0 for r in rows]
    latency.barh([p + 0.2 for p in positions], p99, height=0.4, color="#f0ad4e", label="p99")
    latency.barh([p - 0.2 for p in positions], p50, height=0.4, color="#5bc0de", label="p50")
    latency.set_title("latency (ms, log scale)")
    latency.set_xscale("log")
    latency.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=8)

    app = [r.app_cpu_ms or 0.0 for r in rows]
    pg = [r.pg_cpu_ms or 0.0 for r in rows]
    load = [r.client_cpu_ms or 0.0 for r in rows]
    cost.barh(positions, app, color="#3a7bd5", label="app")
    cost.barh(positions, pg, left=app, color="#888888", label="PostgreSQL")
    cost.barh(
        positions,
        load,
        left=[a + p for a, p in zip(app, pg, strict=True)],
        color="#cccccc",
        label="load generator",
    )
    cost.set_title("CPU ms per request")
    cost.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, fontsize=8)

    summary = "   ".join(
        f"{v.name} {v.value:.2f}" for v in verdicts if v.value is not None and v.target is not None
    )
    figure.suptitle(f"{title}\n{summary}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    figure.savefig(partial, dpi=100, format="png")
    plt.close(figure)
    os.replace(partial, path)
