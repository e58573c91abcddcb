"""`make bench --profile` sums py-spy's stacks by library (bench/profile.py)."""

from __future__ import annotations

from bench.profile import summarize

SERVE = "cmd_serve (/work/main/app/cli/commands.py:10)"
PAY = "write (/work/main/app/payments/pg_store.py:20)"
FETCH = "fetchrow (/x/site-packages/asyncpg/connection.py:5)"
PARSE = "parse (/x/site-packages/graphql/language/parser.py:9)"
JSON = "dumps (/usr/lib/python3.11/json/__init__.py:1)"
IDLE = "_worker (/usr/lib/python3.11/concurrent/futures/thread.py:81)"


def test_samples_are_charged_to_the_innermost_named_library() -> None:
    collapsed = "\n".join(
        [
            f"{SERVE};{PAY};{FETCH} 6",
            f"{SERVE};{PARSE} 3",
            f"{SERVE};{PAY};{JSON} 1",  # json is no named library: charged to app
            f"Thread.run (/usr/lib/python3.11/threading.py:1);{IDLE} 50",  # waiting, skipped
            "garbage line",
        ]
    )
    summary = summarize(collapsed).to_json()
    assert summary["samples"] == 10
    assert summary["self_pct_by_library"] == {"asyncpg": 60.0, "graphql-core": 30.0, "app": 10.0}
    within = summary["within_app_function_pct"]
    assert within["app.cli.commands.cmd_serve"] == 100.0
    assert within["app.payments.pg_store.write"] == 70.0
