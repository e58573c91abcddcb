"""`seed_demo`: the demo tenant with two customers, funded wallets, invoices and tokens.

Safe to run again: the tenant, customers (by email), wallets (by currency) and invoices
(by number) that exist are kept as they are; only the tokens are new on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from app.auth.tokens import issue_token
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.db.models import Customer, Invoice, Tenant, Wallet, utcnow
from app.db.uow import UnitOfWork

DEMO_CLONE_ID = "64f000000000000000000002"
DEMO_TENANT_NAME = "Demo Clone"
TOKEN_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class DemoCustomer:
    key: str
    name: str
    email: str
    wallets: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class DemoInvoice:
    number: int
    owner: str
    currency: str
    total: Decimal
    discount_percent: Decimal | None = None


CUSTOMERS = (
    DemoCustomer(
        "ada",
        "Ada Obi",
        "ada@demo.invoicepay.test",
        (("NGN", Decimal("50000.00")), ("USD", Decimal("500.00"))),
    ),
    DemoCustomer("bola", "Bola Ade", "bola@demo.invoicepay.test", (("NGN", Decimal("1000.00")),)),
)
INVOICES = (
    DemoInvoice(100123, "ada", "NGN", Decimal("15000.00")),
    DemoInvoice(100124, "ada", "NGN", Decimal("5000.00"), discount_percent=Decimal(5)),
    DemoInvoice(100125, "ada", "USD", Decimal("200.00")),
    DemoInvoice(100200, "bola", "NGN", Decimal("2500.00")),
)
DUE_IN = timedelta(days=60)
DISCOUNT_VALID_FOR = timedelta(days=30)


@dataclass(frozen=True)
class DemoSeed:
    """The demo data as it is now, and fresh tokens; `created` counts rows added this run."""

    tenant: Tenant
    ada: Customer
    bola: Customer
    wallets: tuple[Wallet, ...]
    invoices: tuple[Invoice, ...]
    ada_token: str
    bola_token: str
    admin_token: str
    created: int


async def seed_demo(db: Database, settings: Settings) -> DemoSeed:
    settings.check_can_issue_tokens()  # before anything is written
    created = 0
    async with UnitOfWork(db) as uow:
        tenant = await uow.tenants.get(DEMO_CLONE_ID)
    if tenant is None:
        tenant = await admin.create_tenant(db, DEMO_CLONE_ID, DEMO_TENANT_NAME)
        created += 1
    customers: dict[str, Customer] = {}
    for spec in CUSTOMERS:
        customers[spec.key], added = await _ensure_customer(db, spec)
        created += added
    invoices = []
    for demo in INVOICES:
        invoice, added = await _ensure_invoice(db, demo, customers[demo.owner].id)
        invoices.append(invoice)
        created += added
    async with UnitOfWork(db) as uow:
        wallets = await uow.wallets.list_for_customers([c.id for c in customers.values()])

    async def token(customer_id: str | None) -> str:
        return await session_token(db, settings, DEMO_CLONE_ID, customer_id)

    return DemoSeed(
        tenant=tenant,
        ada=customers["ada"],
        bola=customers["bola"],
        wallets=tuple(wallets),
        invoices=tuple(invoices),
        ada_token=await token(customers["ada"].id),
        bola_token=await token(customers["bola"].id),
        admin_token=await token(None),
        created=created,
    )


async def _ensure_customer(db: Database, spec: DemoCustomer) -> tuple[Customer, int]:
    """The customer and its funded wallets; a wallet that exists is never topped up again."""
    created = 0
    async with UnitOfWork(db) as uow:
        customer = await uow.customers.get_by_email(DEMO_CLONE_ID, spec.email)
    if customer is None:
        customer = await admin.create_customer(db, DEMO_CLONE_ID, spec.name, spec.email)
        created += 1
    for currency, amount in spec.wallets:
        async with UnitOfWork(db) as uow:
            wallet = await uow.wallets.get(customer.id, currency)
        if wallet is None:
            await admin.top_up_wallet(
                db, DEMO_CLONE_ID, customer.id, currency, amount, reference="demo seed"
            )
            created += 1
    return customer, created


async def _ensure_invoice(db: Database, demo: DemoInvoice, customer_id: str) -> tuple[Invoice, int]:
    async with UnitOfWork(db) as uow:
        invoice = await uow.invoices.get_by_number(DEMO_CLONE_ID, demo.number)
    if invoice is not None:
        return invoice, 0
    now = utcnow()
    new = admin.NewInvoice(
        number=demo.number,
        customer_id=customer_id,
        currency=demo.currency,
        total=demo.total,
        due_at=now + DUE_IN,
        discount_percent=demo.discount_percent,
        discount_until=now + DISCOUNT_VALID_FOR if demo.discount_percent else None,
    )
    return await admin.create_invoice(db, DEMO_CLONE_ID, new), 1


async def session_token(
    db: Database, settings: Settings, tenant_id: str, customer_id: str | None
) -> str:
    """A new session's token for a customer of `tenant_id` (None: the tenant's admin),
    valid for TOKEN_TTL_SECONDS: what the seeds print."""
    session = await admin.create_session(
        db, tenant_id, customer_id=customer_id, ttl_seconds=TOKEN_TTL_SECONDS
    )
    return issue_token(settings, session)
