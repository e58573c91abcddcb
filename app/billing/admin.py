"""Operator services: tenants, customers, invoices, top-ups, voids and sessions."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app import errors
from app.auth.tokens import ADMIN_SCOPE, CUSTOMER_SCOPE
from app.db.engine import Database
from app.db.models import AuthSession, Customer, Invoice, Tenant, Wallet, new_id, utcnow
from app.db.uow import UnitOfWork
from app.events import shapes
from app.events.outbox import record
from app.kit.money import MAX_MINOR, AmountError, Currency, require_currency, to_minor
from app.ledger.entries import top_up_entries

CLONE_ID = re.compile(r"^[0-9a-f]{24}$")
# What an identity provider may put in `jti` or an admin `sub`: printable, no spaces.
TOKEN_TEXT = re.compile(r"[!-~]{1,64}")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
MAX_EMAIL_LENGTH = 320  # RFC 5321's longest address; customers.email is VARCHAR(320)
MAX_INVOICE_NUMBER = 2**31 - 1
MAX_TTL_SECONDS = 366 * 24 * 3600


def _text(field: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise errors.InvalidInput(field=field, reason="EMPTY" if not value else "TOO_LONG")
    return value


def _positive_minor(field: str, amount: Decimal, currency: Currency) -> int:
    try:
        minor = to_minor(amount, currency)
    except AmountError as error:
        raise errors.InvalidInput(field=field, reason=error.reason) from None
    if minor <= 0:
        raise errors.InvalidInput(field=field, reason="NOT_POSITIVE")
    return minor


async def create_tenant(db: Database, clone_id: str, name: str) -> Tenant:
    if not CLONE_ID.match(clone_id):
        raise errors.InvalidInput(field="cloneId", reason="NOT_24_HEX")
    tenant = Tenant(id=clone_id, name=_text("name", name, 200))
    async with UnitOfWork(db, write=True) as uow:
        if await uow.tenants.get(clone_id) is not None:
            raise errors.InvalidInput(field="cloneId", reason="ALREADY_EXISTS")
        uow.tenants.add(tenant)
        await uow.commit()
    return tenant


async def create_customer(db: Database, tenant_id: str, name: str, email: str) -> Customer:
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise errors.InvalidInput(field="email", reason="TOO_LONG")
    if not EMAIL.match(email):
        raise errors.InvalidInput(field="email", reason="MALFORMED")
    customer = Customer(
        id=new_id("cus"), tenant_id=tenant_id, name=_text("name", name, 200), email=email
    )
    async with UnitOfWork(db, write=True) as uow:
        if await uow.customers.get_by_email(tenant_id, email) is not None:
            raise errors.CustomerEmailTaken(email=email)
        uow.customers.add(customer)
        await record(
            uow.session, tenant_id, "customer.created", shapes.customer_created(customer), utcnow()
        )
        await uow.commit()
    return customer


@dataclass(frozen=True)
class NewInvoice:
    number: int
    customer_id: str
    currency: str
    total: Decimal
    due_at: datetime | None = None
    discount_percent: Decimal | None = None
    discount_until: datetime | None = None


async def create_invoice(db: Database, tenant_id: str, new: NewInvoice) -> Invoice:
    if not 1 <= new.number <= MAX_INVOICE_NUMBER:
        raise errors.InvalidInput(field="number", reason="OUT_OF_RANGE")
    percent: str | None = None
    if new.discount_percent is not None:
        p = new.discount_percent
        if not p.is_finite() or not 0 < p < 100 or p != p.quantize(Decimal("0.0001")):
            raise errors.InvalidInput(field="earlyPaymentDiscount.percent", reason="OUT_OF_RANGE")
        percent = format(p.normalize(), "f")
    async with UnitOfWork(db, write=True) as uow:
        customer = await uow.customers.get(tenant_id, new.customer_id)
        if customer is None:
            raise errors.CustomerNotFound(customer_id=new.customer_id)
        currency = require_currency(new.currency)
        total = _positive_minor("total", new.total, currency)
        if await uow.invoices.get_by_number(tenant_id, new.number) is not None:
            raise errors.InvoiceNumberTaken(number=new.number)
        invoice = Invoice(
            id=new_id("inv"),
            tenant_id=tenant_id,
            number=new.number,
            customer_id=customer.id,
            currency=currency.code,
            total=total,
            due_at=new.due_at,
            discount_percent=percent,
            discount_until=new.discount_until if percent else None,
        )
        uow.invoices.add(invoice)
        data = shapes.invoice_changed(invoice)
        await record(uow.session, tenant_id, "invoice.created", data, utcnow())
        await uow.commit()
    return invoice


async def top_up_wallet(
    db: Database,
    tenant_id: str,
    customer_id: str,
    currency_code: str,
    amount: Decimal,
    reference: str | None = None,
) -> Wallet:
    """Credit a customer's wallet (created if missing) from outside funds."""
    now = utcnow()
    async with UnitOfWork(db, write=True) as uow:
        customer = await uow.customers.get(tenant_id, customer_id)
        if customer is None:
            raise errors.CustomerNotFound(customer_id=customer_id)
        currency = require_currency(currency_code)
        minor = _positive_minor("amount", amount, currency)
        wallet = await uow.wallets.ensure_for_update(tenant_id, customer.id, currency.code)
        if wallet.balance + minor > MAX_MINOR:
            raise errors.InvalidInput(field="amount", reason="TOO_LARGE")
        wallet.balance += minor
        uow.wallets.add(wallet)
        uow.ledger.add_entries(top_up_entries(wallet, minor, reference, now))
        data = shapes.wallet_topped_up(wallet, minor)
        await record(uow.session, tenant_id, "wallet.topped_up", data, now)
        await uow.commit()
    return wallet


async def void_invoice(db: Database, tenant_id: str, number: int) -> Invoice:
    async with UnitOfWork(db, write=True) as uow:
        found = await uow.invoices.get_by_number(tenant_id, number)
        if found is None:
            raise errors.InvoiceNotFound(number=number)
        invoice = await uow.invoices.get_for_update(found.id)
        if invoice.status == "PAID":
            raise errors.InvoiceAlreadyPaid(number=number)
        if invoice.status == "VOID":
            raise errors.InvoiceVoid(number=number)
        # Payments that were all refunded leave nothing paid: such an invoice may be voided.
        if invoice.amount_paid or invoice.discount_applied:
            raise errors.InvoiceHasPayments(number=number)
        invoice.status = "VOID"
        uow.invoices.add(invoice)
        data = shapes.invoice_changed(invoice)
        await record(uow.session, tenant_id, "invoice.voided", data, utcnow())
        await uow.commit()
    return invoice


async def create_session(
    db: Database,
    tenant_id: str,
    *,
    customer_id: str | None,
    ttl_seconds: int,
    jti: str | None = None,
    admin_subject: str | None = None,
) -> AuthSession:
    """Register a session (the account/token pair) for a customer, or an admin if None.

    `jti` (and an admin's `admin_subject`) are given when another party signs the token,
    an identity provider whose keys are JWT_PUBLIC_KEY / JWT_JWKS_URL; otherwise random."""
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise errors.InvalidInput(field="ttl", reason="OUT_OF_RANGE")
    for field, value in (("jti", jti), ("subject", admin_subject)):
        if value is not None and not TOKEN_TEXT.fullmatch(value):
            raise errors.InvalidInput(field=field, reason="MALFORMED")
    now = utcnow()
    async with UnitOfWork(db, write=True) as uow:
        if await uow.tenants.get(tenant_id) is None:
            raise errors.InvalidInput(field="cloneId", reason="UNKNOWN_TENANT")
        if customer_id is not None and await uow.customers.get(tenant_id, customer_id) is None:
            raise errors.CustomerNotFound(customer_id=customer_id)
        if jti is not None and await uow.sessions.get(jti) is not None:
            raise errors.InvalidInput(field="jti", reason="ALREADY_EXISTS")
        session = AuthSession(
            jti=jti or secrets.token_hex(16),
            tenant_id=tenant_id,
            subject=customer_id or admin_subject or f"adm_{secrets.token_hex(8)}",
            scope=CUSTOMER_SCOPE if customer_id else ADMIN_SCOPE,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        uow.sessions.add(session)
        await uow.commit()
    return session


async def revoke_session(db: Database, tenant_id: str, jti: str) -> AuthSession:
    async with UnitOfWork(db, write=True) as uow:
        session = await uow.sessions.get(jti)
        if session is None or session.tenant_id != tenant_id:
            raise errors.SessionNotFound(jti=jti)
        if session.revoked_at is None:
            session.revoked_at = utcnow()
            uow.sessions.add(session)
            await uow.commit()
    return session
