"""Row f in the report (ratios c/f and d/f against the performance issue's targets) and the
load generator's check of a floor payment (bench/report.py, bench/workload.py)."""

from __future__ import annotations

import random

import orjson

from bench.measure import Result
from bench.report import ratios, verdict_lines
from bench.workload import FLOOR_PATH, FLOOR_REFERENCE, Call, check_floor_pay, make_calls


def _row(key: str, throughput: float, scenario: str = "uniform") -> Result:
    return Result(key, key, scenario, 0, 1.0, throughput, {}, 0, [], None, None, None, None)


def _verdicts(rows: list[Result]) -> dict[str, tuple[float | None, bool | None]]:
    return {v.name: (v.value, v.passed) for v in ratios(rows)}


def test_rest_and_graphql_are_measured_against_the_floor() -> None:
    rows = [_row("c", 800.0), _row("d", 590.0), _row("f", 1000.0), _row("f", 400.0, "hot")]
    found = _verdicts(rows)
    assert found["c/f"] == (0.8, True)  # REST: at least 0.8 of the floor
    assert found["d/f"] == (0.59, False)  # GraphQL: at least 0.6 of it
    assert found["f hot/uniform"] == (0.4, None)  # shown, no target
    assert "✗ d/f" in verdict_lines(ratios(rows))


def test_without_the_floor_its_ratios_are_unknown() -> None:
    found = _verdicts([_row("c", 800.0), _row("d", 600.0)])
    assert found["c/f"] == (None, None)
    assert found["d/f"] == (None, None)


def _floor_call() -> tuple[Call, dict[str, object]]:
    spec = {
        "host": "127.0.0.1",
        "port": 8001,
        "kind": "floor_pay",
        "targets": [["no-token", "cus_1", 10_000_001]],
    }
    next_call, _check = make_calls(spec, random.Random(7))
    call = next_call()
    head, body = call.raw.split(b"\r\n\r\n", 1)
    assert head.startswith(f"POST {FLOOR_PATH} HTTP/1.1".encode())
    assert b"Authorization" not in head  # the floor has no auth
    sent: dict[str, object] = orjson.loads(body)
    return call, sent


def test_a_floor_payment_asks_for_what_the_check_expects() -> None:
    call, sent = _floor_call()
    assert sent == {
        "customer": "cus_1",
        "invoice": 10_000_001,
        "currency": "NGN",
        "amount": call.paid_minor,
        "reference": FLOOR_REFERENCE,
    }
    assert call.expect == 10_000_001


def test_the_check_takes_only_the_payment_asked_for() -> None:
    call, _ = _floor_call()

    def answer(**changes: object) -> bytes:
        body = {"payment": "pay_1", "invoice": 10_000_001, "amount": call.paid_minor}
        return orjson.dumps({**body, "walletBalance": 5, "status": "PARTIALLY_PAID", **changes})

    assert check_floor_pay(call, 200, answer()) is None
    assert check_floor_pay(call, 200, answer(amount=call.paid_minor + 1)) is not None
    assert check_floor_pay(call, 200, answer(invoice=10_000_002)) is not None
    assert check_floor_pay(call, 200, answer(payment=None)) is not None
    refused = orjson.dumps({"error": {"code": "WRONG_AMOUNT", "message": "…"}})
    assert check_floor_pay(call, 409, refused) is not None
