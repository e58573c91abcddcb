"""The webhooks row's figures (bench/webhooks.py, bench/receiver.py, bench/report.py):
delivery lag from the receiver's record, each event counted once at its first arrival,
and the ratio of pay throughput with webhooks to without, with the lag beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.measure import Result
from bench.receiver import arrival
from bench.report import ratios, verdict_lines
from bench.webhooks import lag_figures, read_arrivals, throughput_ratio

CREATED = "2026-01-01T00:00:00.000000Z"
EPOCH = 1767225600.0  # CREATED in seconds since the epoch


def _row(scenario: str, throughput: float, detail: dict[str, object] | None = None) -> Result:
    row = Result("d", "d", scenario, 0, 1.0, throughput, {}, 0, [], None, None, None, None)
    row.detail.update(detail or {})
    return row


def test_the_receiver_records_arrival_event_id_and_the_events_created_at() -> None:
    body = json.dumps({"type": "payment.succeeded", "timestamp": CREATED, "data": {}})
    headers = {"webhook-id": "evt_1", "webhook-timestamp": "1767225601"}
    assert arrival(headers, body.encode(), EPOCH + 0.25) == {
        "arrived": EPOCH + 0.25,
        "id": "evt_1",
        "webhook_timestamp": 1767225601,
        "created_at": CREATED,
    }


def test_lag_is_arrival_minus_created_at_once_per_event(tmp_path: Path) -> None:
    records = [
        {"arrived": EPOCH + 0.010, "id": "evt_1", "created_at": CREATED},
        {"arrived": EPOCH + 0.030, "id": "evt_2", "created_at": CREATED},
        {"arrived": EPOCH + 2.000, "id": "evt_1", "created_at": CREATED},  # a repeat
    ]
    path = tmp_path / "arrivals.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    figures = lag_figures(read_arrivals(path))
    assert figures["events"] == 2
    assert figures["duplicates"] == 1
    assert figures["lag_ms"]["p50"] == pytest.approx(10)  # the repeat's 2 s is not a lag
    assert figures["lag_ms"]["p99"] == pytest.approx(30)
    assert read_arrivals(tmp_path / "none.jsonl") == []


def test_no_arrival_has_no_lag() -> None:
    assert lag_figures([]) == {
        "events": 0,
        "duplicates": 0,
        "lag_ms": {"p50": None, "p90": None, "p99": None, "max": None, "mean": None},
    }


def test_the_report_shows_throughput_with_webhooks_over_without_and_the_lag() -> None:
    lag = {"p50": 120.4, "p90": 300.0, "p99": 910.6, "max": 1000.0, "mean": 200.0}
    webhooks = {"events": 42, "duplicates": 0, "lag_ms": lag}
    rows = [_row("uniform", 500.0), _row("webhooks", 400.0, {"webhooks": webhooks})]
    [verdict] = [v for v in ratios(rows) if v.name == "d webhooks/d"]
    assert verdict.value == pytest.approx(0.8)
    assert verdict.note == "42 delivered, lag p50 120 ms, p99 911 ms"
    assert "d webhooks/d" in verdict_lines(ratios(rows))
    assert throughput_ratio(400.0, 500.0) == pytest.approx(0.8)
    assert throughput_ratio(400.0, 0.0) is None
