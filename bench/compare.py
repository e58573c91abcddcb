"""Two result files side by side as a PNG: throughput and the app's and PostgreSQL's CPU
per request of each row both runs measured (`before` grey, `after` blue).

    .venv/bin/python -m bench.compare BEFORE.json AFTER.json OUT.png

The README's performance section charts round 2 with it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

PANELS = (
    ("throughput", "req/s"),
    ("app_cpu_ms", "app CPU ms/req"),
    ("pg_cpu_ms", "PostgreSQL CPU ms/req"),
)


def rows(path: Path) -> dict[str, dict[str, Any]]:
    """Each row of a run by its label (`c REST pay [uniform]`)."""
    results: list[dict[str, Any]] = json.loads(path.read_text())["results"]
    return {f"{r['key']} {r['name']} [{r['scenario']}]": r for r in results}


def draw(before: Path, after: Path, out: Path) -> list[str]:
    """Chart the rows both runs have; their labels, in the first run's order."""
    old, new = rows(before), rows(after)
    labels = [label for label in old if label in new]
    positions = range(len(labels))
    figure, panels = plt.subplots(1, len(PANELS), figsize=(18, 0.6 * len(labels) + 2), sharey=True)
    for panel, (field, title) in zip(panels, PANELS, strict=True):
        for offset, (run, colour, name) in enumerate(
            ((old, "#999999", before.stem), (new, "#3a7bd5", after.stem))
        ):
            values = [run[label][field] or 0 for label in labels]
            panel.barh([p + 0.4 * offset for p in positions], values, 0.4, color=colour, label=name)
        panel.set_title(title)
    panels[0].set_yticks([p + 0.2 for p in positions], labels)
    panels[0].invert_yaxis()
    panels[0].legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return labels


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    labels = draw(Path(argv[0]), Path(argv[1]), Path(argv[2]))
    print(f"wrote {argv[2]}: {len(labels)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
