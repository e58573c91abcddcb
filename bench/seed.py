"""The benchmark's data: one tenant, N customers each with a large NGN wallet and one big
open invoice (so thousands of small partial payments never run out), a session and token
each, and one "pager" customer whose invoices grow to 10k, 100k and 1M rows.

Customer ids are `cus_` and the customer's number in 24 digits, so the pgbench replay can
name a random customer from a random integer (`customer_id_sql`). Wallets are funded
with the ledger entries the app itself writes for a top-up, so the ledger is sound from
the start; the pager's invoices are bulk-inserted unpaid, which touches no ledger row.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from app import admin
from app.auth import CUSTOMER_SCOPE, issue_token
from app.config import Settings
from app.db import Database
from app.ledger import top_up_entries
from app.models import AuthSession, Customer, Invoice, Wallet, new_id, utcnow
from app.money import require_currency, to_minor
from app.payments import PayInvoice, pay_invoice
from app.uow import UnitOfWork
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
    """The tenant and its customers, in one transaction of the app's own rows: wallets
    funded by `top_up_entries` (the ledger entries `admin.top_up_wallet` writes), invoices
    and sessions as `admin.create_invoice` and `admin.create_session` make them."""
    settings.check_can_issue_tokens()
    await admin.create_tenant(db, TENANT, "Bench Clone")
    numbers = [CAPTURE, *range(1, customers + 1), PAGER]
    now = utcnow()
    funds = to_minor(WALLET_FUNDS, require_currency(CURRENCY))
    total = to_minor(INVOICE_TOTAL, require_currency(CURRENCY))
    sessions: list[AuthSession] = []
    async with UnitOfWork(db, write=True) as uow:
        for n in numbers:
            uow.customers.add(
                Customer(
                    id=customer_id(n),
                    tenant_id=TENANT,
                    name=f"Bench Customer {n}",
                    email=f"c{n}@bench.invoicepay.test",
                )
            )
        await uow.flush()
        entries = []
        for n in numbers:
            wallet = Wallet(
                id=new_id("wal"),
                tenant_id=TENANT,
                customer_id=customer_id(n),
                currency=CURRENCY,
                balance=funds,
            )
            uow.wallets.add(wallet)
            entries += top_up_entries(wallet, funds, SEED_REFERENCE, now)
            if n != PAGER:
                uow.invoices.add(
                    Invoice(
                        id=new_id("inv"),
                        tenant_id=TENANT,
                        number=invoice_number(n),
                        customer_id=customer_id(n),
                        currency=CURRENCY,
                        total=total,
                    )
                )
            session = AuthSession(
                jti=secrets.token_hex(16),
                tenant_id=TENANT,
                subject=customer_id(n),
                scope=CUSTOMER_SCOPE,
                created_at=now,
                expires_at=now + timedelta(seconds=TOKEN_TTL_SECONDS),
            )
            uow.sessions.add(session)
            sessions.append(session)
        await uow.flush()  # the wallets first: ledger entries refer to them
        uow.ledger.add_entries(entries)
        await uow.commit()
    accounts = [
        Account(n, customer_id(n), invoice_number(n), issue_token(settings, session))
        for n, session in zip(numbers, sessions, strict=True)
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
