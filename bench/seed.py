"""The benchmark's data: one tenant, N customers each with a large NGN wallet and one big
open invoice (so thousands of small partial payments never run out), a session and token
each, and one "pager" customer whose invoices grow to 10k, 100k and 1M rows.

Customer ids are `cus_` and the customer's number in 24 digits, so the pgbench replay can
name a random customer from a random integer (`customer_id_sql`). The rows are written by
`app.seed.bulk.insert_customers` (as `invoicepay seed --customers` does): wallets funded
with the ledger entries the app itself writes for a top-up, so the ledger is sound from
the start; the pager's invoices are bulk-inserted unpaid, which touches no ledger row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.auth.tokens import issue_token
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.kit.money import require_currency, to_minor
from app.payments import PayInvoice, pay_invoice
from app.seed.bulk import Funding, NewCustomer, insert_customers
from bench.database import Server

TENANT = "64f0000000000000000000be"
CURRENCY = "NGN"
# Every customer n pays its own invoice INVOICE_BASE + n.
INVOICE_BASE = 10_000_000
# The pager's invoices are PAGE_BASE + 1 … PAGE_BASE + rows (below 2**31).
PAGE_BASE = 1_000_000_000
PAGER = 999_999_999
# Customer 0 is not in the load: the SQL capture pays with it.
CAPTURE = 0
WALLET_FUNDS = Decimal("10000000.00")
INVOICE_TOTAL = Decimal("9000000.00")
TOKEN_TTL_SECONDS = 12 * 3600
SEED_REFERENCE = "bench-seed"
FIRST_PAYMENT = Decimal("0.50")
SEED_CONCURRENCY = 8


def customer_id(n: int) -> str:
    return f"cus_{n:024d}"


def customer_id_sql(variable: str) -> str:
    """SQL for `customer_id(:variable)` in a pgbench script."""
    return f"('cus_'::text || lpad((:{variable})::text, 24, '0'))"


def invoice_number(n: int) -> int:
    return INVOICE_BASE + n


@dataclass(frozen=True)
class Account:
    """A seeded customer: who it is, the invoice it pays, and its bearer token."""

    n: int
    customer_id: str
    invoice_number: int
    token: str


@dataclass(frozen=True)
class Seeded:
    capture: Account
    payers: tuple[Account, ...]
    pager: Account


async def seed(db: Database, settings: Settings, customers: int) -> Seeded:
    """The tenant and its customers, written by the app's bulk seeding (app.seed.bulk):
    wallets funded by the ledger entries `admin.top_up_wallet` writes, invoices and
    sessions as `admin.create_invoice` and `admin.create_session` make them."""
    settings.check_can_issue_tokens()
    await admin.create_tenant(db, TENANT, "Bench Clone")
    numbers = [CAPTURE, *range(1, customers + 1), PAGER]
    new_customers = [
        NewCustomer(
            id=customer_id(n),
            name=f"Bench Customer {n}",
            email=f"c{n}@bench.invoicepay.test",
            invoice_numbers=range(0)
            if n == PAGER
            else range(invoice_number(n), invoice_number(n) + 1),
        )
        for n in numbers
    ]
    currency = require_currency(CURRENCY)
    funding = Funding(
        currency=CURRENCY,
        wallet_funds=to_minor(WALLET_FUNDS, currency),
        invoice_total=to_minor(INVOICE_TOTAL, currency),
        reference=SEED_REFERENCE,
        session_ttl_seconds=TOKEN_TTL_SECONDS,
    )
    inserted = await insert_customers(db, TENANT, new_customers, funding)
    accounts = [
        Account(n, customer_id(n), invoice_number(n), issue_token(settings, session))
        for n, session in zip(numbers, inserted.sessions, strict=True)
    ]
    return Seeded(capture=accounts[0], payers=tuple(accounts[1:-1]), pager=accounts[-1])


async def pay_once(db: Database, accounts: Sequence[Account]) -> None:
    """One payment on each account's invoice through `pay_invoice`, so every invoice is
    PARTIALLY_PAID before the load: the state in which the replay (b) was captured (the
    app's UPDATE names only the columns that change, and the status no longer does)."""
    limit = asyncio.Semaphore(SEED_CONCURRENCY)

    async def pay(account: Account) -> None:
        async with limit:
            await pay_invoice(
                db,
                PayInvoice(
                    tenant_id=TENANT,
                    customer_id=account.customer_id,
                    invoice_number=account.invoice_number,
                    currency=CURRENCY,
                    amount=FIRST_PAYMENT,
                    reference=SEED_REFERENCE,
                ),
            )

    await asyncio.gather(*(pay(account) for account in accounts))


async def grow_pager_invoices(server: Server, database: str, have: int, want: int) -> None:
    """Give the pager invoices up to number PAGE_BASE + `want` (it has `have`), unpaid."""
    if want <= have:
        return
    # Constant SQL built from integers and our own constants, never from input.
    sql = f"""
        SET statement_timeout = 0;
        INSERT INTO invoices (id, tenant_id, number, customer_id, currency, total,
                              amount_paid, discount_applied, status, created_at)
        SELECT 'inv_' || lpad(to_hex({PAGE_BASE}::bigint + g), 24, '0'), '{TENANT}',
               {PAGE_BASE} + g, '{customer_id(PAGER)}', '{CURRENCY}', 100000 + g % 9000,
               0, 0, 'UNPAID', now()
        FROM generate_series({have + 1}, {want}) AS g;
        ANALYZE invoices;
    """  # noqa: S608
    await server.execute(sql, database)
