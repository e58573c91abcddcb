"""Object types. Each wraps a table row; amounts leave as `Money` (Decimal strings)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry
from strawberry.types import Info

from app.api.graphql.context import Context, bad_input
from app.db import models
from app.db.uow import UnitOfWork
from app.kit.money import find_currency, to_decimal

MAX_PAGE = 100
DEFAULT_PAGE = 20
# The most a list without pagination returns: a query's cost counts it at this size
# (app/api/graphql/cost.py), so no resolver may return more.
MAX_WALLETS = 10
MAX_INVOICE_PAYMENTS = 50
MAX_PAYMENT_REFUNDS = 50
# Keys are BIGINTs: a cursor beyond one names no position, and a database handed such a
# value fails (a 500 whose log would echo it) instead of answering an empty page.
MAX_CURSOR_KEY = 2**63 - 1


@strawberry.enum
class InvoiceStatus(Enum):
    UNPAID = "UNPAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    VOID = "VOID"


@strawberry.enum
class CustomerStatus(Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


@strawberry.enum
class TransactionKind(Enum):
    TOP_UP = "TOP_UP"
    PAYMENT = "PAYMENT"
    REFUND = "REFUND"


@strawberry.type
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        known = find_currency(currency)
        assert known is not None, currency
        return cls(amount=to_decimal(minor, known), currency=currency)


@strawberry.interface(description="An object with a globally unique id (e.g. `inv_…`).")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind or not value.isdigit() or len(value) > 19:
            raise ValueError(cursor)
        if int(value) > MAX_CURSOR_KEY:
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeError):
        raise bad_input("Invalid cursor") from None


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE if first is None else first
    if not 0 <= size <= MAX_PAGE:
        raise bad_input(f"first must be between 0 and {MAX_PAGE}")
    return size


def page_info(cursors: list[str], has_next: bool, has_previous: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


@strawberry.type
class Customer(Node):
    row: strawberry.Private[models.Customer]
    name: str
    email: str
    status: CustomerStatus
    created_at: datetime

    @classmethod
    def of(cls, row: models.Customer) -> Customer:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            name=row.name,
            email=row.email,
            status=CustomerStatus(row.status),
            created_at=row.created_at,
        )

    @strawberry.field(description=f"The customer's wallets by currency (at most {MAX_WALLETS}).")
    async def wallets(self, info: Info[Context, None]) -> list[Wallet]:
        rows = await info.context.loaders.wallets_by_customer.load(self.row.id)
        return [Wallet.of(row) for row in rows[:MAX_WALLETS]]


@strawberry.type
class WalletTransaction:
    """One ledger entry of a wallet, with the balance right after it."""

    row: strawberry.Private[models.LedgerEntry]
    id: strawberry.ID
    kind: TransactionKind
    amount: Money
    balance_after: Money
    reference: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.LedgerEntry) -> WalletTransaction:
        assert row.id is not None and row.balance_after is not None
        return cls(
            row=row,
            id=strawberry.ID(f"txe_{row.id}"),
            kind=TransactionKind(row.kind),
            amount=Money.of(row.amount, row.currency),
            balance_after=Money.of(row.balance_after, row.currency),
            reference=row.reference,
            created_at=row.created_at,
        )

    @strawberry.field
    async def payment(self, info: Info[Context, None]) -> Payment | None:
        if self.row.payment_id is None:
            return None
        row = await info.context.loaders.payment.load(self.row.payment_id)
        return Payment.of(row) if row is not None else None

    @strawberry.field(description="The refund this entry is part of (REFUND entries).")
    async def refund(self, info: Info[Context, None]) -> Refund | None:
        if self.row.refund_id is None:
            return None
        row = await info.context.loaders.refund.load(self.row.refund_id)
        return Refund.of(row) if row is not None else None


@strawberry.type
class WalletTransactionEdge:
    cursor: str
    node: WalletTransaction


@strawberry.type
class WalletTransactionConnection:
    edges: list[WalletTransactionEdge]
    page_info: PageInfo


@strawberry.type
class Wallet(Node):
    row: strawberry.Private[models.Wallet]
    currency: str
    balance: Money
    created_at: datetime

    @classmethod
    def of(cls, row: models.Wallet) -> Wallet:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            currency=row.currency,
            balance=Money.of(row.balance, row.currency),
            created_at=row.created_at,
        )

    @strawberry.field(description="Ledger entries of this wallet, newest first.")
    async def transactions(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> WalletTransactionConnection:
        size = page_size(first)
        after_id = decode_cursor("txe", after)
        async with UnitOfWork(info.context.db) as uow:
            rows = await uow.ledger.wallet_page(self.row.id, after_id=after_id, limit=size + 1)
        edges = [
            WalletTransactionEdge(
                cursor=encode_cursor("txe", row.id or 0), node=WalletTransaction.of(row)
            )
            for row in rows[:size]
        ]
        return WalletTransactionConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > size, after is not None),
        )


@strawberry.type
class EarlyPaymentDiscount:
    percent: Decimal
    until: datetime


@strawberry.type
class Invoice(Node):
    row: strawberry.Private[models.Invoice]
    number: int
    status: InvoiceStatus
    currency: str
    total: Money
    amount_paid: Money
    discount_applied: Money
    balance_due: Money
    due_at: datetime | None
    early_payment_discount: EarlyPaymentDiscount | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.Invoice) -> Invoice:
        terms = None
        if row.discount_percent is not None and row.discount_until is not None:
            terms = EarlyPaymentDiscount(
                percent=Decimal(row.discount_percent), until=row.discount_until
            )
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            number=row.number,
            status=InvoiceStatus(row.status),
            currency=row.currency,
            total=Money.of(row.total, row.currency),
            amount_paid=Money.of(row.amount_paid, row.currency),
            discount_applied=Money.of(row.discount_applied, row.currency),
            balance_due=Money.of(row.balance_due, row.currency),
            due_at=row.due_at,
            early_payment_discount=terms,
            created_at=row.created_at,
        )

    @strawberry.field(
        description=f"The invoice's payments, oldest first (the first {MAX_INVOICE_PAYMENTS})."
    )
    async def payments(self, info: Info[Context, None]) -> list[Payment]:
        rows = await info.context.loaders.payments_by_invoice.load(self.row.id)
        return [Payment.of(row) for row in rows[:MAX_INVOICE_PAYMENTS]]

    @strawberry.field(description="What refunds took back of the amount paid, in all.")
    async def amount_refunded(self, info: Info[Context, None]) -> Money:
        rows = await info.context.loaders.refunds_by_invoice.load(self.row.id)
        return Money.of(sum(row.amount for row in rows), self.row.currency)

    @strawberry.field
    async def customer(self, info: Info[Context, None]) -> Customer | None:
        row = await info.context.loaders.customer.load(self.row.customer_id)
        return Customer.of(row) if row is not None else None


@strawberry.type
class InvoiceEdge:
    cursor: str
    node: Invoice


@strawberry.type
class InvoiceConnection:
    edges: list[InvoiceEdge]
    page_info: PageInfo


@strawberry.type
class Payment(Node):
    row: strawberry.Private[models.Payment]
    amount: Money
    wallet_debit: Money
    exchange_rate: Decimal
    discount: Money
    reference: str | None
    memo: str | None
    accounting_code: str | None
    idempotency_key: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.Payment) -> Payment:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            amount=Money.of(row.amount, row.currency),
            wallet_debit=Money.of(row.wallet_debit, row.wallet_currency),
            exchange_rate=Decimal(row.exchange_rate),
            discount=Money.of(row.discount, row.currency),
            reference=row.reference,
            memo=row.memo,
            accounting_code=row.accounting_code,
            idempotency_key=row.idempotency_key,
            created_at=row.created_at,
        )

    @strawberry.field
    async def invoice(self, info: Info[Context, None]) -> Invoice:
        row = await info.context.loaders.invoice.load(self.row.invoice_id)
        assert row is not None
        return Invoice.of(row)

    @strawberry.field
    async def wallet(self, info: Info[Context, None]) -> Wallet:
        row = await info.context.loaders.wallet.load(self.row.wallet_id)
        assert row is not None
        return Wallet.of(row)

    @strawberry.field(
        description=f"Refunds of this payment, oldest first (at most {MAX_PAYMENT_REFUNDS})."
    )
    async def refunds(self, info: Info[Context, None]) -> list[Refund]:
        rows = await info.context.loaders.refunds_by_payment.load(self.row.id)
        return [Refund.of(row) for row in rows[:MAX_PAYMENT_REFUNDS]]

    @strawberry.field(description="What refunds gave back of `amount`, in all.")
    async def amount_refunded(self, info: Info[Context, None]) -> Money:
        rows = await info.context.loaders.refunds_by_payment.load(self.row.id)
        return Money.of(sum(row.amount for row in rows), self.row.currency)

    @strawberry.field(description="What is left to refund: `amount` - `amountRefunded`.")
    async def refundable(self, info: Info[Context, None]) -> Money:
        rows = await info.context.loaders.refunds_by_payment.load(self.row.id)
        return Money.of(self.row.amount - sum(row.amount for row in rows), self.row.currency)


@strawberry.type(description="Money of a payment given back to the wallet that paid it.")
class Refund(Node):
    row: strawberry.Private[models.Refund]
    amount: Money = strawberry.field(description="In the invoice currency.")
    wallet_credit: Money = strawberry.field(description="In the wallet currency.")
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.Refund) -> Refund:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            amount=Money.of(row.amount, row.currency),
            wallet_credit=Money.of(row.wallet_credit, row.wallet_currency),
            reason=row.reason,
            created_at=row.created_at,
        )

    @strawberry.field
    async def payment(self, info: Info[Context, None]) -> Payment:
        row = await info.context.loaders.payment.load(self.row.payment_id)
        assert row is not None
        return Payment.of(row)
