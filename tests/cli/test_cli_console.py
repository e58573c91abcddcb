"""Tables and progress (app/kit/console.py), and `invoicepay ledger verify` for people (a
table of checks on a terminal) and for scripts (`--json`), on each backend."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from app.cli import commands as cli
from app.kit import console
from app.ledger.verify import CHECKS
from tests.support.cli import query, set_cli_env
from tests.support.terminal import Terminal, plain


@pytest.fixture
def url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`DATABASE_URL` of a clean, migrated database (each backend), as in test_cli."""
    set_cli_env(monkeypatch, database_url)
    return database_url


def test_a_table_pads_text_left_and_whole_numbers_right() -> None:
    text = console.table(("NAME", "ROWS"), [("customers", 5), ("ledger_entries", 12345)])

    assert text.splitlines() == [
        "NAME             ROWS",
        "customers           5",
        "ledger_entries  12345",
    ]


def test_on_a_terminal_a_progress_bar_draws_counts_rate_and_note_then_ends_its_line() -> None:
    stream = Terminal()
    bar = console.ProgressBar("seeding", "rows", stream)

    bar(250, 1000, note="batch 1")
    bar(1000, 1000)

    frames = [f for f in re.split(r"\r|\n", plain(stream.getvalue())) if f.strip()]
    assert re.match(r"seeding ━{6}╺?━* +25% +250/1000 rows +\S* *[-\d:]+ batch 1$", frames[0])
    assert re.match(r"seeding ━{24} 100% +1000/1000 rows +[\d,]+/s +0:00:\d\d", frames[-1])
    assert plain(stream.getvalue()).endswith("\n")


def test_piped_a_progress_bar_writes_its_last_state_once_as_plain_text() -> None:
    stream = io.StringIO()
    bar = console.ProgressBar("verifying", "checks", stream)

    for done in range(1, 51):
        bar(done, 50, note="check")

    out = stream.getvalue()
    assert "\x1b" not in out and "\r" not in out
    assert re.fullmatch(r"verifying ━{24} 100% +50/50 checks +[\d,]+/s +0:00:\d\d *\n", out)


def test_on_a_terminal_a_progress_bar_redraws_a_few_times_a_second_but_always_the_end() -> None:
    stream = Terminal()
    bar = console.ProgressBar("verifying", "checks", stream)

    for done in range(1, 51):
        bar(done, 50)

    frames = re.findall(r"(\d+)/50 checks", plain(stream.getvalue()))
    assert len(frames) < 50
    assert frames[-1] == "50"


def test_an_interrupted_progress_line_is_ended_before_the_next_message() -> None:
    stream = io.StringIO()
    console.ProgressBar("seeding", "rows", stream)(10, 100)

    console.end_progress_lines()

    assert re.fullmatch(r"seeding .* 10/100 rows .*\n", stream.getvalue())
    console.end_progress_lines()  # nothing left open: nothing more written
    assert stream.getvalue().count("\n") == 1


def test_on_a_terminal_verify_prints_a_table_of_every_check(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    assert cli.main(["ledger", "verify"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["CHECK", "RESULT", "TIME", "WHAT"]
    rows = lines[1 : 1 + len(CHECKS)]
    assert [row.split()[:2] for row in rows] == [[check.name, "ok"] for check in CHECKS]
    # the columns line up: every RESULT starts where its header does
    assert {row.index(" ok ") + 1 for row in rows} == {lines[0].index("RESULT")}
    assert lines[-1].startswith(f"ledger OK: {len(CHECKS)} checks passed")


@pytest.mark.corrupts_ledger
def test_on_a_terminal_a_failed_check_is_marked_and_its_violations_listed(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    wallet = query(url, "SELECT id FROM wallets WHERE currency = 'USD'")[0][0]
    query(url, "UPDATE wallets SET balance = balance + 1 WHERE id = :id", id=wallet)
    capsys.readouterr()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    assert cli.main(["ledger", "verify"]) == 1

    out = capsys.readouterr().out
    assert re.search(r"^wallet_balance_matches_ledger +FAILED \(1\) ", out, re.MULTILINE)
    assert re.search(rf"^wallet_balance_matches_ledger +{wallet} +balance ", out, re.MULTILINE)
    assert out.rstrip().endswith("ledger BROKEN: 1 violation(s)")


def test_verify_json_lists_every_check_for_scripts(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # --json wins over a terminal

    assert cli.main(["ledger", "verify", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["violations"] == []
    assert [c["name"] for c in report["checks"]] == [check.name for check in CHECKS]
    assert all(c["ok"] and c["seconds"] >= 0 for c in report["checks"])


@pytest.mark.corrupts_ledger
def test_verify_json_reports_violations_and_exits_1(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    query(url, "UPDATE invoices SET amount_paid = 1 WHERE number = 100200")
    capsys.readouterr()

    assert cli.main(["ledger", "verify", "--json"]) == 1

    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert "invoice_amount_paid" in failed
    assert {"check": "invoice_amount_paid", "subject": "invoice 100200"}.items() <= next(
        v for v in report["violations"] if v["check"] == "invoice_amount_paid"
    ).items()


def test_a_database_error_during_progress_starts_its_own_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_cli_env(monkeypatch, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")

    assert cli.main(["ledger", "verify", "--progress"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    bar, error = captured.err.split("\n")[:2]
    assert re.match(rf"verifying ledger +0% +0/{len(CHECKS)} checks ", bar)
    assert error.startswith("invoicepay: database error: no such table")
    assert captured.err.endswith("\n") and captured.err.count("\n") == 2
