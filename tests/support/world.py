"""The scenery tests start from: two tenants, their customers, wallets, invoices and
tokens, built through the same admin service production uses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from app.auth.tokens import issue_token
from app.billing import admin
from app.db.engine import Database
from app.db.models import CUSTOMER_SUSPENDED
from app.payments import PayInvoice, pay_invoice
from tests.support.clients import test_settings
from tests.support.keys import claims_for

DEMO_CLONE = "64f000000000000000000002"
OTHER_CLONE = "64f0000000000000000000ff"


async def token_for(db: Database, tenant_id: str, customer_id: str | None) -> str:
    session = await admin.create_session(db, tenant_id, customer_id=customer_id, ttl_seconds=3600)
    return issue_token(test_settings(db.url), session)


@dataclass
class World:
    """Two tenants; in the demo tenant Ada (NGN 50000, USD 500) and Bola (NGN 1000)."""

    ada: str
    bola: str
    stranger: str
    ada_token: str
    bola_token: str
    admin_token: str
    stranger_token: str
    other_admin_token: str


async def make_world(db: Database) -> World:
    await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
    await admin.create_tenant(db, OTHER_CLONE, "Other Clone")
    ada = await admin.create_customer(db, DEMO_CLONE, "Ada Obi", "ada@example.com")
    bola = await admin.create_customer(db, DEMO_CLONE, "Bola Ade", "bola@example.com")
    stranger = await admin.create_customer(db, OTHER_CLONE, "Sam Other", "sam@example.com")
    await admin.top_up_wallet(db, DEMO_CLONE, ada.id, "NGN", Decimal("50000.00"))
    await admin.top_up_wallet(db, DEMO_CLONE, ada.id, "USD", Decimal("500.00"))
    await admin.top_up_wallet(db, DEMO_CLONE, bola.id, "NGN", Decimal("1000.00"))
    await admin.top_up_wallet(db, OTHER_CLONE, stranger.id, "NGN", Decimal("900.00"))
    return World(
        ada=ada.id,
        bola=bola.id,
        stranger=stranger.id,
        ada_token=await token_for(db, DEMO_CLONE, ada.id),
        bola_token=await token_for(db, DEMO_CLONE, bola.id),
        admin_token=await token_for(db, DEMO_CLONE, None),
        stranger_token=await token_for(db, OTHER_CLONE, stranger.id),
        other_admin_token=await token_for(db, OTHER_CLONE, None),
    )


async def invoice(
    db: Database,
    number: int,
    customer_id: str,
    total: str,
    currency: str = "NGN",
    tenant_id: str = DEMO_CLONE,
    **terms: Any,
) -> None:
    await admin.create_invoice(
        db,
        tenant_id,
        admin.NewInvoice(
            number=number,
            customer_id=customer_id,
            currency=currency,
            total=Decimal(total),
            **terms,
        ),
    )


async def make_payment(
    db: Database,
    customer_id: str,
    number: int,
    amount: str,
    currency: str = "NGN",
    tenant_id: str = DEMO_CLONE,
) -> str:
    """Pay `amount` of invoice `number` through the service; the new payment's id."""
    receipt = await pay_invoice(
        db,
        PayInvoice(
            tenant_id=tenant_id,
            customer_id=customer_id,
            invoice_number=number,
            currency=currency,
            amount=Decimal(amount),
        ),
    )
    return receipt.payment_id


async def suspend(db: Database, customer_id: str) -> None:
    """Suspend a customer, as an operator would in the database."""
    async with db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE customers SET status = :status WHERE id = :id"),
            {"status": CUSTOMER_SUSPENDED, "id": customer_id},
        )


async def given_ada_session(db: Database) -> tuple[World, dict[str, Any]]:
    """The world, and the claims of a fresh, live session of Ada's."""
    world = await make_world(db)
    session = await admin.create_session(db, DEMO_CLONE, customer_id=world.ada, ttl_seconds=600)
    return world, claims_for(session)


# The books every check of a payment can be failed against (given_books).
OPEN = 100  # Ada's NGN invoice of 5000.00, unpaid
YEN = 101  # Ada's JPY invoice of 5000, unpaid
BOLAS = 200  # Bola's NGN invoice of 2500.00 (Bola's wallet holds 1000.00)
PAID = 300  # Ada's NGN invoice of 1000.00, paid
VOIDED = 400  # Ada's NGN invoice of 1000.00, void
ELSEWHERE = 900  # Sam's NGN invoice in the other tenant
MISSING = 999  # no invoice has this number in any tenant


async def given_books(db: Database) -> World:
    """make_world, a JPY wallet of 10000 for Ada and the invoices above: Ada's NGN wallet
    is left with 49000 (PAID took 1000), her USD wallet has 500; Bola's NGN has 1000."""
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "JPY", Decimal("10000"))
    await invoice(db, OPEN, world.ada, "5000")
    await invoice(db, YEN, world.ada, "5000", "JPY")
    await invoice(db, BOLAS, world.bola, "2500")
    await invoice(db, PAID, world.ada, "1000")
    await pay_invoice(db, PayInvoice(DEMO_CLONE, world.ada, PAID, "NGN"))
    await invoice(db, VOIDED, world.ada, "1000")
    await admin.void_invoice(db, DEMO_CLONE, VOIDED)
    await invoice(db, ELSEWHERE, world.stranger, "100", tenant_id=OTHER_CLONE)
    return world
