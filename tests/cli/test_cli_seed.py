"""`invoicepay seed --customers N --invoices-per-customer M` and app.seed.bulk, on each
backend: what it writes, that the books stay straight, progress on stderr only."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import jwt
import pytest

from app.billing import admin
from app.cli import commands as cli
from app.db.engine import Database
from app.db.models import new_id
from app.ledger.verify import verify_ledger
from app.seed.bulk import BULK_CLONE_ID, FIRST_BULK_INVOICE, Funding, NewCustomer, insert_customers
from tests.support.cli import SECRET, query, set_cli_env
from tests.support.terminal import plain


@pytest.fixture
def url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`DATABASE_URL` of a clean, migrated database (each backend), as in test_cli."""
    set_cli_env(monkeypatch, database_url)
    return database_url


OTHER_TENANT = "64f0000000000000000000bb"


def seed_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert cli.main(["seed", *args, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_when_seeding_customers_then_each_has_a_funded_wallet_and_its_invoices(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_json(capsys, "--customers", "30", "--invoices-per-customer", "4")

    assert seeded["rows"] == {"customers": 30, "wallets": 30, "ledger_entries": 60, "invoices": 120}
    assert seeded["tenant"] == {"id": BULK_CLONE_ID, "name": "Bulk Clone"}
    assert seeded["tenant_created"] is True
    assert seeded["invoice_numbers"] == {
        "first": FIRST_BULK_INVOICE,
        "last": FIRST_BULK_INVOICE + 119,
    }
    per_customer = query(
        url,
        "SELECT c.id, w.balance, COUNT(i.id), SUM(i.total), MIN(i.status), MAX(i.status)"
        " FROM customers c JOIN wallets w ON w.customer_id = c.id"
        " JOIN invoices i ON i.customer_id = c.id GROUP BY c.id, w.balance",
    )
    assert len(per_customer) == 30
    assert {tuple(row[1:]) for row in per_customer} == {(600_000, 4, 600_000, "UNPAID", "UNPAID")}
    numbers = [row[0] for row in query(url, "SELECT number FROM invoices ORDER BY number")]
    assert numbers == list(range(FIRST_BULK_INVOICE, FIRST_BULK_INVOICE + 120))
    assert cli.main(["ledger", "verify"]) == 0


def test_the_printed_tokens_are_the_tenants_admin_and_its_first_new_customer(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_json(capsys, "--customers", "3", "--tenant", OTHER_TENANT)

    admin = jwt.decode(seeded["tokens"]["admin"], SECRET, algorithms=["HS256"])
    customer = jwt.decode(seeded["tokens"]["customer"], SECRET, algorithms=["HS256"])
    assert (admin["scope"], admin["clone_id"]) == ("admin", OTHER_TENANT)
    assert (customer["scope"], customer["sub"]) == ("payments", seeded["first_customer_id"])
    assert query(url, "SELECT tenant_id FROM customers WHERE id = :id", id=customer["sub"]) == [
        (OTHER_TENANT,)
    ]


def test_given_a_seeded_tenant_when_seeding_again_then_more_are_added_after_the_last(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_json(capsys, "--customers", "4", "--invoices-per-customer", "2")

    again = seed_json(capsys, "--customers", "3", "--invoices-per-customer", "5")

    assert again["tenant_created"] is False
    assert again["invoice_numbers"] == {
        "first": FIRST_BULK_INVOICE + 8,
        "last": FIRST_BULK_INVOICE + 22,
    }
    emails = [row[0] for row in query(url, "SELECT email FROM customers ORDER BY email")]
    assert emails == sorted(f"customer{n}@bulk.invoicepay.test" for n in range(1, 8))
    assert cli.main(["ledger", "verify"]) == 0


def test_given_the_demo_when_seeding_into_its_tenant_then_demo_invoices_are_untouched(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    capsys.readouterr()

    seeded = seed_json(capsys, "--customers", "2", "--tenant", "64f000000000000000000002")

    assert seeded["invoice_numbers"]["first"] == FIRST_BULK_INVOICE
    assert query(url, "SELECT COUNT(*) FROM invoices WHERE number < 1000000") == [(4,)]
    assert cli.main(["seed", "--demo"]) == 0
    assert "already seeded" in capsys.readouterr().out


def test_customers_without_invoices_still_get_a_funded_wallet(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_json(capsys, "--customers", "5", "--invoices-per-customer", "0")

    assert seeded["rows"]["invoices"] == 0
    assert seeded["invoice_numbers"] is None
    assert query(url, "SELECT DISTINCT balance FROM wallets") == [(150_000,)]


def test_without_a_terminal_the_summary_is_a_table_and_stderr_stays_empty(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--customers", "12", "--invoices-per-customer", "3"]) == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"Tenant {BULK_CLONE_ID} (Bulk Clone, created): 84 rows in")
    table = lines[2:8]
    assert [line.split() for line in table] == [
        ["TABLE", "ROWS"],
        ["customers", "12"],
        ["wallets", "12"],
        ["ledger_entries", "24"],
        ["invoices", "36"],
        ["total", "84"],
    ]
    # the counts are right-aligned under ROWS
    assert len({len(line) for line in table}) == 1
    assert re.search(r"^  ADMIN_TOKEN=ey", captured.out, re.MULTILINE)
    assert re.search(r"^  CUSTOMER_TOKEN=ey", captured.out, re.MULTILINE)


@pytest.mark.parametrize("how", ["terminal", "flag"])
def test_with_a_terminal_or_progress_flag_progress_goes_to_stderr_and_stdout_is_unchanged(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    flags = ["--progress"] if how == "flag" else []
    if how == "terminal":
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    assert cli.main(["seed", "--customers", "40", "--json", *flags]) == 0

    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"]["customers"] == 40
    assert plain(captured.err).lstrip().startswith("seeding ━")
    assert plain(captured.err).endswith("\n")
    assert "200/200 rows" in plain(captured.err)
    if how == "flag":  # piped: plain text, no colours or cursor moves
        assert "\x1b" not in captured.err


@pytest.mark.usefixtures("url")
def test_on_a_terminal_progress_reports_rising_row_counts_and_ends_at_the_total(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    assert cli.main(["seed", "--customers", "2000", "--json"]) == 0

    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout is the JSON alone
    done = [int(n) for n in re.findall(r" (\d+)/10000 rows", plain(captured.err))]
    assert done == sorted(done) and done[-1] == 10_000
    assert re.search(r"100% +10000/10000 rows +[\d,]+/s +\d+:\d\d:\d\d *\n$", plain(captured.err))


def test_no_progress_wins_over_a_terminal(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    assert cli.main(["seed", "--customers", "3", "--no-progress"]) == 0

    assert capsys.readouterr().err == ""


def test_given_no_jwt_secret_when_seeding_customers_then_nothing_is_written(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", "")

    assert cli.main(["seed", "--customers", "3"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("invoicepay: configuration error: JWT_SECRET")
    assert query(url, "SELECT COUNT(*) FROM tenants") == [(0,)]


def test_given_invoice_numbers_past_the_limit_when_seeding_then_nothing_is_written(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["seed", "--customers", "3000", "--invoices-per-customer", "1000000"]

    assert cli.main(args) == 1

    captured = capsys.readouterr()
    assert captured.err == (
        "invoicepay: error: Invalid input (field=invoicesPerCustomer, reason=TOO_MANY)\n"
    )
    assert query(url, "SELECT COUNT(*) FROM tenants") == [(0,)]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--demo", "--customers", "3"], "not allowed with argument"),
        (["--demo", "--tenant", BULK_CLONE_ID], "--tenant and --invoices-per-customer go with"),
        (["--customers", "0"], "is not a positive integer"),
        (["--customers", "3", "--invoices-per-customer", "-1"], "is not a whole number"),
        (["--customers", "3", "--tenant", "acme"], "is not a clone id"),
        ([], "one of the arguments --demo --customers is required"),
    ],
)
def test_seed_usage_errors_exit_2_with_one_clear_complaint(
    url: str, capsys: pytest.CaptureFixture[str], args: list[str], complaint: str
) -> None:
    assert cli.main(["seed", *args]) == 2

    assert complaint in capsys.readouterr().err
    assert query(url, "SELECT COUNT(*) FROM tenants") == [(0,)]


async def test_insert_customers_commits_whole_customers_per_batch_and_reports_progress(
    db: Database,
) -> None:
    # given a tenant, and customers whose rows (4 + 3 invoices + 1 session) span batches
    await admin.create_tenant(db, OTHER_TENANT, "Batch Test")
    customers = [
        NewCustomer(new_id("cus"), f"C {n}", f"c{n}@x.test", range(n * 10, n * 10 + 3))
        for n in range(1, 12)
    ]
    funding = Funding(
        "USD", wallet_funds=900, invoice_total=300, reference="t", session_ttl_seconds=60
    )
    calls: list[tuple[int, int]] = []

    # when inserted in batches of at least 20 rows
    inserted = await insert_customers(
        db,
        OTHER_TENANT,
        customers,
        funding,
        progress=lambda d, t: calls.append((d, t)),
        batch_rows=20,
    )

    # then every batch held whole customers (8 rows each: 24, 48, … 88) and all were written
    assert calls == [(24, 88), (48, 88), (72, 88), (88, 88)]
    assert (inserted.customers, inserted.invoices, len(inserted.sessions)) == (11, 33, 11)
    assert [s.subject for s in inserted.sessions] == [c.id for c in customers]
    assert await verify_ledger(db) == []
