"""`python -m bench.compare` charts the rows two runs share, in the first run's order."""

from __future__ import annotations

import json
from pathlib import Path

from bench.compare import draw, main


def run(path: Path, *rows: tuple[str, str, float]) -> Path:
    results = [
        {"key": key, "name": name, "scenario": "uniform", "throughput": speed,
         "app_cpu_ms": 1.0, "pg_cpu_ms": None}
        for key, name, speed in rows
    ]  # fmt: skip
    path.write_text(json.dumps({"results": results}))
    return path


def test_the_rows_both_runs_measured_are_charted(tmp_path: Path) -> None:
    before = run(tmp_path / "before.json", ("c", "REST pay", 700.0), ("d", "GraphQL", 400.0))
    after = run(tmp_path / "after.json", ("d", "GraphQL", 600.0), ("f", "floor", 1400.0))
    out = tmp_path / "chart.png"
    assert draw(before, after, out) == ["d GraphQL [uniform]"]
    assert out.read_bytes().startswith(b"\x89PNG")
    assert main([str(before), str(after), str(out)]) == 0


def test_without_three_paths_it_explains_itself(capsys: object) -> None:
    assert main(["only-one.json"]) == 2
