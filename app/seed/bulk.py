"""Bulk seeding: many customers, each with one funded wallet and its invoices.

`insert_customers` writes the rows the services would write (a wallet funded by the
ledger entries `admin.top_up_wallet` makes, unpaid invoices, optional sessions) with
multi-row INSERTs, one transaction per batch of about BATCH_ROWS rows. A batch holds whole
customers, so a run stopped half-way leaves a sound ledger. `seed_bulk` is
`invoicepay seed --customers N --invoices-per-customer M`; the benchmark (bench/seed.py)
calls `insert_customers` with its own ids and numbers.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert
from sqlmodel import SQLModel, select

from app import errors
from app.auth.tokens import CUSTOMER_SCOPE
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.db.models import (
    AuthSession,
    Customer,
    Invoice,
    LedgerEntry,
    Tenant,
    Wallet,
    new_id,
    utcnow,
)
from app.db.uow import UnitOfWork
from app.kit.money import require_currency, to_minor
from app.ledger.entries import top_up_entries, wallet_account
from app.seed.demo import session_token

BATCH_ROWS = 5000
BULK_CLONE_ID = "64f000000000000000000003"
BULK_TENANT_NAME = "Bulk Clone"
BULK_CURRENCY = "NGN"
BULK_INVOICE_TOTAL = Decimal("1500.00")
# Bulk invoice numbers start here, well clear of the demo's (100123 …).
FIRST_BULK_INVOICE = 1_000_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class NewCustomer:
    id: str
    name: str
    email: str
    invoice_numbers: range


@dataclass(frozen=True)
class Funding:
    """What every customer gets: one wallet of `wallet_funds`, invoices of `invoice_total`
    (minor units of `currency`), and a session of `session_ttl_seconds` when set."""

    currency: str
    wallet_funds: int
    invoice_total: int
    reference: str
    session_ttl_seconds: int | None = None


@dataclass
class Inserted:
    customers: int = 0
    wallets: int = 0
    ledger_entries: int = 0
    invoices: int = 0
    sessions: list[AuthSession] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return (
            self.customers + self.wallets + self.ledger_entries + self.invoices + len(self.sessions)
        )


def _rows_for(customer: NewCustomer, funding: Funding) -> int:
    # The customer, its wallet, the top-up's two entries, its invoices, its session.
    return 4 + len(customer.invoice_numbers) + (funding.session_ttl_seconds is not None)


class _Templates:
    """One row of each table as the models and the ledger make it; a customer's rows are
    copies with its own ids (building model objects per row would cost more than the
    database does)."""

    def __init__(self, tenant_id: str, funding: Funding, now: datetime) -> None:
        self.customer = Customer(
            id="", tenant_id=tenant_id, name="", email="", created_at=now
        ).model_dump()
        wallet = Wallet(
            id="",
            tenant_id=tenant_id,
            customer_id="",
            currency=funding.currency,
            balance=funding.wallet_funds,
            created_at=now,
        )
        self.wallet = wallet.model_dump()
        self.entries = [
            entry.model_dump(exclude={"id"})
            for entry in top_up_entries(wallet, funding.wallet_funds, funding.reference, now)
        ]
        self.invoice = Invoice(
            id="",
            tenant_id=tenant_id,
            number=0,
            customer_id="",
            currency=funding.currency,
            total=funding.invoice_total,
            created_at=now,
        ).model_dump()


class _Batch:
    def __init__(self, templates: _Templates) -> None:
        self.templates = templates
        self.tables: dict[type[SQLModel], list[dict[str, Any]]] = {
            Customer: [],
            Wallet: [],
            LedgerEntry: [],
            Invoice: [],
            AuthSession: [],
        }
        self.sessions: list[AuthSession] = []
        self.rows = 0

    def add(self, customer: NewCustomer, funding: Funding) -> None:
        t = self.templates
        self.tables[Customer].append(
            {**t.customer, "id": customer.id, "name": customer.name, "email": customer.email}
        )
        wallet_id, transaction_id = new_id("wal"), new_id("txn")
        self.tables[Wallet].append({**t.wallet, "id": wallet_id, "customer_id": customer.id})
        for entry in t.entries:
            row = {**entry, "transaction_id": transaction_id}
            if entry["wallet_id"] is not None:
                row.update(wallet_id=wallet_id, account=wallet_account(wallet_id))
            self.tables[LedgerEntry].append(row)
        self.tables[Invoice] += [
            {**t.invoice, "id": new_id("inv"), "number": number, "customer_id": customer.id}
            for number in customer.invoice_numbers
        ]
        if funding.session_ttl_seconds is not None:
            now = t.customer["created_at"]
            session = AuthSession(
                jti=secrets.token_hex(16),
                tenant_id=t.customer["tenant_id"],
                subject=customer.id,
                scope=CUSTOMER_SCOPE,
                created_at=now,
                expires_at=now + timedelta(seconds=funding.session_ttl_seconds),
            )
            self.tables[AuthSession].append(session.model_dump())
            self.sessions.append(session)
        self.rows += _rows_for(customer, funding)

    async def write(self, db: Database, inserted: Inserted) -> None:
        async with UnitOfWork(db, write=True) as uow:
            # In this order: wallets refer to customers, ledger entries to wallets.
            for model, rows in self.tables.items():
                if rows:
                    await _insert(uow, model, rows, copy=not db.is_sqlite and model is not Customer)
            await uow.commit()
        inserted.customers += len(self.tables[Customer])
        inserted.wallets += len(self.tables[Wallet])
        inserted.ledger_entries += len(self.tables[LedgerEntry])
        inserted.invoices += len(self.tables[Invoice])
        inserted.sessions += self.sessions


async def _insert(
    uow: UnitOfWork, model: type[SQLModel], rows: list[dict[str, Any]], *, copy: bool
) -> None:
    table: Table = model.__table__  # type: ignore[attr-defined]
    if copy:
        # PostgreSQL's COPY, on the unit of work's connection and so inside its transaction
        # (the customers' INSERT, always first, has begun it): the fastest way in.
        connection = await uow.session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        columns = list(rows[0])
        await raw.copy_records_to_table(
            table.name, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
        )
        return
    # RETURNING lets SQLAlchemy send a thousand rows per INSERT instead of one.
    key = next(iter(table.primary_key))
    await uow.session.exec(insert(table).returning(key), params=rows)


async def insert_customers(
    db: Database,
    tenant_id: str,
    customers: Sequence[NewCustomer],
    funding: Funding,
    *,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Inserted:
    """Insert `customers` with their wallets, top-up entries, invoices (and sessions) into
    an existing tenant; `progress(rows_written, rows_total)` is called after each batch."""
    total = sum(_rows_for(customer, funding) for customer in customers)
    inserted = Inserted()
    templates = _Templates(tenant_id, funding, utcnow())
    batch = _Batch(templates)
    for customer in customers:
        batch.add(customer, funding)
        if batch.rows >= batch_rows:
            await batch.write(db, inserted)
            batch = _Batch(templates)
            if progress is not None:
                progress(inserted.rows, total)
    if batch.rows or not customers:
        await batch.write(db, inserted)
        if progress is not None:
            progress(inserted.rows, total)
    return inserted


@dataclass(frozen=True)
class BulkSeed:
    """What `seed_bulk` made, and two fresh tokens (the tenant's admin, its first new
    customer)."""

    tenant: Tenant
    tenant_created: bool
    inserted: Inserted
    invoice_numbers: range
    currency: str
    invoice_total: int
    wallet_funds: int
    first_customer_id: str
    seconds: float
    admin_token: str
    customer_token: str


async def seed_bulk(
    db: Database,
    settings: Settings,
    *,
    tenant_id: str,
    customers: int,
    invoices_per_customer: int,
    progress: Progress | None = None,
) -> BulkSeed:
    """Add `customers` customers to the tenant (created if missing), numbered after the
    ones it has, each with `invoices_per_customer` unpaid invoices numbered after the
    tenant's highest and a wallet that can pay them all. Safe to run again: it adds more."""
    settings.check_can_issue_tokens()  # before anything is written
    started = time.monotonic()
    currency = require_currency(BULK_CURRENCY)
    invoice_total = to_minor(BULK_INVOICE_TOTAL, currency)
    async with UnitOfWork(db) as uow:
        tenant = await uow.tenants.get(tenant_id)
        have = (
            await uow.session.exec(
                select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id)
            )
        ).one()
        highest = (
            await uow.session.exec(
                select(func.max(Invoice.number)).where(Invoice.tenant_id == tenant_id)
            )
        ).one()
    first_number = max(highest or 0, FIRST_BULK_INVOICE - 1) + 1
    numbers = range(first_number, first_number + customers * invoices_per_customer)
    if numbers and numbers[-1] > admin.MAX_INVOICE_NUMBER:
        raise errors.InvalidInput(field="invoicesPerCustomer", reason="TOO_MANY")
    tenant_created = tenant is None
    if tenant is None:
        tenant = await admin.create_tenant(db, tenant_id, BULK_TENANT_NAME)
    plan = [
        NewCustomer(
            id=new_id("cus"),
            name=f"Bulk Customer {n}",
            email=f"customer{n}@bulk.invoicepay.test",
            invoice_numbers=numbers[i * invoices_per_customer : (i + 1) * invoices_per_customer],
        )
        for i, n in enumerate(range(have + 1, have + customers + 1))
    ]
    funding = Funding(
        currency=BULK_CURRENCY,
        wallet_funds=invoice_total * max(invoices_per_customer, 1),
        invoice_total=invoice_total,
        reference="bulk seed",
    )
    inserted = await insert_customers(db, tenant_id, plan, funding, progress=progress)

    return BulkSeed(
        tenant=tenant,
        tenant_created=tenant_created,
        inserted=inserted,
        invoice_numbers=numbers,
        currency=BULK_CURRENCY,
        invoice_total=invoice_total,
        wallet_funds=funding.wallet_funds,
        first_customer_id=plan[0].id,
        seconds=time.monotonic() - started,
        admin_token=await session_token(db, settings, tenant_id, None),
        customer_token=await session_token(db, settings, tenant_id, plan[0].id),
    )
