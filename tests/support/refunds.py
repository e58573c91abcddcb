"""Builders for refund tests: a world with payments to refund, and the refund service
called the way the edges call it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from app.db.engine import Database
from app.db.models import utcnow
from app.payments import PayInvoice, pay_invoice
from app.refunds import RefundPayment, RefundResult, refund_payment
from tests.support import DEMO_CLONE, OTHER_CLONE, World, invoice, make_world


@dataclass(frozen=True)
class Books:
    world: World
    ngn_payment: str  # 4000.00 of invoice 100 (10000.00 NGN), from Ada's NGN wallet
    usd_payment: str  # 15000.01 NGN of invoice 200, from Ada's USD wallet at 1500: 10.01 USD
    discounted_payment: str  # invoice 300 (1000.00 NGN at 5 %): 950.00 paid, 50.00 discount
    other_tenant_payment: str  # Sam's 50.00 of invoice 900 in the other tenant


async def pay(db: Database, customer: str, number: int, tenant: str = DEMO_CLONE, **kw: Any) -> str:
    receipt = await pay_invoice(
        db,
        PayInvoice(tenant_id=tenant, customer_id=customer, invoice_number=number, **kw),
    )
    return receipt.payment_id


async def given_books(db: Database) -> Books:
    world = await make_world(db)
    await invoice(db, 100, world.ada, "10000")
    await invoice(db, 200, world.ada, "15000.01")
    soon = utcnow() + timedelta(days=1)
    await invoice(db, 300, world.ada, "1000", discount_percent=Decimal(5), discount_until=soon)
    await invoice(db, 900, world.stranger, "100", tenant_id=OTHER_CLONE)
    return Books(
        world=world,
        ngn_payment=await pay(db, world.ada, 100, currency="NGN", amount=Decimal("4000")),
        usd_payment=await pay(
            db,
            world.ada,
            200,
            currency="NGN",
            wallet_currency="USD",
            exchange_rate=Decimal(1500),
        ),
        discounted_payment=await pay(
            db, world.ada, 300, currency="NGN", apply_early_payment_discount=True
        ),
        other_tenant_payment=await pay(
            db, world.stranger, 900, OTHER_CLONE, currency="NGN", amount=Decimal("50")
        ),
    )


async def refund(
    db: Database, payment_id: str, amount: str | None = None, **kw: Any
) -> RefundResult:
    return await refund_payment(
        db,
        RefundPayment(
            tenant_id=kw.pop("tenant_id", DEMO_CLONE),
            payment_id=payment_id,
            amount=None if amount is None else Decimal(amount),
            **kw,
        ),
    )


async def balance(db: Database, customer: str, currency: str) -> int:
    sql = "SELECT balance FROM wallets WHERE customer_id = :c AND currency = :k"
    async with db.engine.connect() as connection:
        value = (await connection.execute(text(sql), {"c": customer, "k": currency})).scalar_one()
    return int(value)


async def invoice_state(db: Database, number: int) -> tuple[int, int, str]:
    sql = "SELECT amount_paid, discount_applied, status FROM invoices WHERE number = :n"
    async with db.engine.connect() as connection:
        row = (await connection.execute(text(sql), {"n": number})).one()
    return int(row[0]), int(row[1]), str(row[2])
