"""Repositories: load and add rows. None of them commits; the unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db.models import (
    AuthSession,
    Customer,
    IdempotencyRecord,
    Invoice,
    LedgerEntry,
    Payment,
    Refund,
    Tenant,
    Wallet,
    new_id,
    utcnow,
)


class _Repository:
    def __init__(self, session: AsyncSession, *, is_sqlite: bool) -> None:
        self.session = session
        self._insert = sqlite.insert if is_sqlite else postgresql.insert

    def add(self, row: object) -> None:
        self.session.add(row)


class TenantRepository(_Repository):
    async def get(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)


class CustomerRepository(_Repository):
    async def get(self, tenant_id: str, customer_id: str) -> Customer | None:
        row = await self.session.get(Customer, customer_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    async def get_by_ids(self, ids: Sequence[str]) -> Sequence[Customer]:
        return (await self.session.exec(select(Customer).where(col(Customer.id).in_(ids)))).all()

    async def get_by_email(self, tenant_id: str, email: str) -> Customer | None:
        stmt = select(Customer).where(Customer.tenant_id == tenant_id, Customer.email == email)
        return (await self.session.exec(stmt)).first()

    async def list_for_tenant(self, tenant_id: str) -> Sequence[Customer]:
        stmt = select(Customer).where(Customer.tenant_id == tenant_id).order_by(col(Customer.id))
        return (await self.session.exec(stmt)).all()

    async def page(
        self, tenant_id: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> Sequence[Customer]:
        """Newest first, keyset on (created_at, id) (index: tenant, created_at, id)."""
        stmt = select(Customer).where(Customer.tenant_id == tenant_id)
        if before is not None:
            stmt = stmt.where(tuple_(col(Customer.created_at), col(Customer.id)) < before)
        stmt = stmt.order_by(col(Customer.created_at).desc(), col(Customer.id).desc())
        return (await self.session.exec(stmt.limit(limit))).all()


class WalletRepository(_Repository):
    async def get(self, customer_id: str, currency: str) -> Wallet | None:
        stmt = select(Wallet).where(Wallet.customer_id == customer_id, Wallet.currency == currency)
        return (await self.session.exec(stmt)).first()

    async def get_for_update(self, customer_id: str, currency: str) -> Wallet | None:
        # Locks the wallet row: two payments from one wallet can never both read the
        # same balance and overdraw it. Always taken before the invoice lock.
        stmt = (
            select(Wallet)
            .where(Wallet.customer_id == customer_id, Wallet.currency == currency)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(stmt)).first()

    async def ensure_for_update(self, tenant_id: str, customer_id: str, currency: str) -> Wallet:
        """The customer's wallet in `currency`, created if missing, locked."""
        await self.session.exec(
            self._insert(Wallet)
            .values(
                id=new_id("wal"),
                tenant_id=tenant_id,
                customer_id=customer_id,
                currency=currency,
                balance=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        wallet = await self.get_for_update(customer_id, currency)
        assert wallet is not None
        return wallet

    async def get_by_id(self, wallet_id: str) -> Wallet | None:
        return await self.session.get(Wallet, wallet_id)

    async def get_by_id_for_update(self, wallet_id: str) -> Wallet:
        # A refund locks the wallet it credits first, as a payment does: refunds and
        # payments of one wallet queue on this row, never on each other's later locks.
        stmt = (
            select(Wallet)
            .where(Wallet.id == wallet_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(stmt)).one()

    async def get_by_ids(self, ids: Sequence[str]) -> Sequence[Wallet]:
        return (await self.session.exec(select(Wallet).where(col(Wallet.id).in_(ids)))).all()

    async def list_for_customers(self, customer_ids: Sequence[str]) -> Sequence[Wallet]:
        stmt = (
            select(Wallet)
            .where(col(Wallet.customer_id).in_(customer_ids))
            .order_by(col(Wallet.currency))
        )
        return (await self.session.exec(stmt)).all()


class InvoiceRepository(_Repository):
    async def get_by_number(self, tenant_id: str, number: int) -> Invoice | None:
        stmt = select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.number == number)
        return (await self.session.exec(stmt)).first()

    async def get_for_update(self, invoice_id: str) -> Invoice:
        # Locks the invoice after its wallet: two payments cannot both settle one balance due.
        stmt = (
            select(Invoice)
            .where(Invoice.id == invoice_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(stmt)).one()

    async def get(self, invoice_id: str) -> Invoice | None:
        return await self.session.get(Invoice, invoice_id)

    async def get_by_ids(self, ids: Sequence[str]) -> Sequence[Invoice]:
        return (await self.session.exec(select(Invoice).where(col(Invoice.id).in_(ids)))).all()

    async def page(
        self,
        tenant_id: str,
        *,
        customer_id: str | None,
        status: str | None,
        after_number: int | None,
        limit: int,
    ) -> Sequence[Invoice]:
        """Keyset page ordered by number (index: tenant+number, customer+number)."""
        stmt = select(Invoice).where(Invoice.tenant_id == tenant_id)
        if customer_id is not None:
            stmt = stmt.where(Invoice.customer_id == customer_id)
        if status is not None:
            stmt = stmt.where(Invoice.status == status)
        if after_number is not None:
            stmt = stmt.where(Invoice.number > after_number)
        stmt = stmt.order_by(col(Invoice.number)).limit(limit)
        return (await self.session.exec(stmt)).all()


class PaymentRepository(_Repository):
    async def get(self, payment_id: str) -> Payment | None:
        return await self.session.get(Payment, payment_id)

    async def get_by_ids(self, ids: Sequence[str]) -> Sequence[Payment]:
        return (await self.session.exec(select(Payment).where(col(Payment.id).in_(ids)))).all()

    async def get_for_update(self, payment_id: str) -> Payment:
        # Locked after its wallet and invoice: two refunds of one payment cannot both read
        # the same refundable amount and together give back more than was paid.
        stmt = (
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(stmt)).one()

    async def for_invoices(self, invoice_ids: Sequence[str]) -> Sequence[Payment]:
        stmt = (
            select(Payment)
            .where(col(Payment.invoice_id).in_(invoice_ids))
            .order_by(col(Payment.created_at), col(Payment.id))
        )
        return (await self.session.exec(stmt)).all()

    async def page(
        self,
        tenant_id: str,
        *,
        customer_id: str | None,
        invoice_number: int | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Payment]:
        """Newest first, keyset on (created_at, id); one statement, the invoice found by
        a subquery (indexes: tenant, customer or invoice, then created_at, id)."""
        stmt = select(Payment).where(Payment.tenant_id == tenant_id)
        if customer_id is not None:
            stmt = stmt.where(Payment.customer_id == customer_id)
        if invoice_number is not None:
            invoice = select(Invoice.id).where(
                Invoice.tenant_id == tenant_id, Invoice.number == invoice_number
            )
            stmt = stmt.where(Payment.invoice_id == invoice.scalar_subquery())
        if before is not None:
            stmt = stmt.where(tuple_(col(Payment.created_at), col(Payment.id)) < before)
        stmt = stmt.order_by(col(Payment.created_at).desc(), col(Payment.id).desc())
        return (await self.session.exec(stmt.limit(limit))).all()

    async def count_for_invoice(self, invoice_id: str) -> int:
        stmt = select(Payment.id).where(Payment.invoice_id == invoice_id).limit(1)
        return len((await self.session.exec(stmt)).all())


class RefundRepository(_Repository):
    async def get_by_ids(self, ids: Sequence[str]) -> Sequence[Refund]:
        return (await self.session.exec(select(Refund).where(col(Refund.id).in_(ids)))).all()

    async def for_payments(self, payment_ids: Sequence[str]) -> Sequence[Refund]:
        stmt = (
            select(Refund)
            .where(col(Refund.payment_id).in_(payment_ids))
            .order_by(col(Refund.created_at), col(Refund.id))
        )
        return (await self.session.exec(stmt)).all()

    async def for_invoices(self, invoice_ids: Sequence[str]) -> Sequence[Refund]:
        stmt = (
            select(Refund)
            .where(col(Refund.invoice_id).in_(invoice_ids))
            .order_by(col(Refund.created_at), col(Refund.id))
        )
        return (await self.session.exec(stmt)).all()


class LedgerRepository(_Repository):
    def add_entries(self, entries: Sequence[LedgerEntry]) -> None:
        self.session.add_all(entries)

    async def wallet_page(
        self, wallet_id: str, *, after_id: int | None, limit: int
    ) -> Sequence[LedgerEntry]:
        """Newest first, keyset on the entry id (index: wallet_id, id)."""
        stmt = select(LedgerEntry).where(LedgerEntry.wallet_id == wallet_id)
        if after_id is not None:
            stmt = stmt.where(col(LedgerEntry.id) < after_id)
        stmt = stmt.order_by(col(LedgerEntry.id).desc()).limit(limit)
        return (await self.session.exec(stmt)).all()


class SessionRepository(_Repository):
    async def get(self, jti: str) -> AuthSession | None:
        return await self.session.get(AuthSession, jti)

    async def get_with_customer_status(self, jti: str) -> tuple[AuthSession, str | None] | None:
        """The session and the status of the customer it names (None: no such customer),
        in one round trip: every authenticated request asks both."""
        stmt = (
            select(AuthSession, Customer.status)
            .outerjoin(
                Customer,
                and_(
                    col(Customer.id) == col(AuthSession.subject),
                    col(Customer.tenant_id) == col(AuthSession.tenant_id),
                ),
            )
            .where(col(AuthSession.jti) == jti)
        )
        row = (await self.session.exec(stmt)).first()
        return None if row is None else (row[0], row[1])


class IdempotencyRepository(_Repository):
    async def claim(
        self, tenant_id: str, customer_id: str, key: str, fingerprint: str
    ) -> IdempotencyRecord | None:
        """Insert the key, or return the record that holds it.

        On PostgreSQL a concurrent insert of the same key waits until the first
        transaction ends, so exactly one request executes and the others then read
        its committed outcome. On SQLite the write lock already serialises them.
        """
        stmt = (
            self._insert(IdempotencyRecord)
            .values(
                tenant_id=tenant_id,
                customer_id=customer_id,
                key=key,
                fingerprint=fingerprint,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        result = await self.session.exec(stmt)
        if result.rowcount == 1:
            return None
        existing = await self.session.exec(
            select(IdempotencyRecord)
            .where(
                IdempotencyRecord.tenant_id == tenant_id,
                IdempotencyRecord.customer_id == customer_id,
                IdempotencyRecord.key == key,
            )
            .execution_options(populate_existing=True)
        )
        return existing.one()

    async def save_outcome(self, tenant_id: str, customer_id: str, key: str, outcome: str) -> None:
        record = await self.session.get(IdempotencyRecord, (tenant_id, customer_id, key))
        assert record is not None
        record.outcome = outcome
        self.session.add(record)
