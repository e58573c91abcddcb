"""Mutations: unpack the input, call one service; `maps_domain_errors` answers its domain
errors through the one table (app.api.graphql.errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from app import errors
from app.api.graphql import errors as gql_errors
from app.api.graphql.context import Context, bad_input, forbidden, unauthenticated
from app.api.graphql.errors import maps_domain_errors
from app.api.graphql.observe import PaymentOutcome
from app.api.graphql.refunds import RefundPaymentInput, RefundPaymentResult, refund
from app.api.graphql.types import Customer, Invoice, Payment, Wallet
from app.api.graphql.webhooks import WebhookMutation
from app.billing import admin
from app.db.uow import UnitOfWork
from app.payments import PayInvoice, settle_invoice


@strawberry.input
class PayInvoiceInput:
    invoice_number: int
    currency: str
    amount: Decimal | None = None
    wallet_currency: str | None = None
    exchange_rate: Decimal | None = None
    expected_balance_due: Decimal | None = None
    apply_early_payment_discount: bool | None = None
    reference: str | None = None
    memo: str | None = None
    accounting_code: str | None = None
    idempotency_key: str | None = None
    clone_id: str | None = None


@strawberry.type
class PayInvoiceSuccess:
    payment: Payment
    invoice: Invoice
    wallet: Wallet
    replayed: bool


PayInvoiceResult = Annotated[
    PayInvoiceSuccess
    | gql_errors.UserNotFound
    | gql_errors.CurrencyNotFound
    | gql_errors.InvoiceNotFound
    | gql_errors.InvoiceOwnershipMismatch
    | gql_errors.CurrencyMismatch
    | gql_errors.InvoiceAlreadyPaid
    | gql_errors.InvoiceVoid
    | gql_errors.WalletNotFound
    | gql_errors.WrongAmount
    | gql_errors.InsufficientFunds
    | gql_errors.IdempotencyKeyReused,
    strawberry.union("PayInvoiceResult"),
]


@strawberry.input
class CreateCustomerInput:
    name: str
    email: str


@strawberry.input
class EarlyPaymentDiscountInput:
    percent: Decimal
    until: datetime


@strawberry.input
class CreateInvoiceInput:
    number: int
    customer_id: strawberry.ID
    currency: str
    total: Decimal
    due_at: datetime | None = None
    early_payment_discount: EarlyPaymentDiscountInput | None = None


@strawberry.input
class TopUpWalletInput:
    customer_id: strawberry.ID
    currency: str
    amount: Decimal
    reference: str | None = None


@strawberry.type
class RevokeSessionSuccess:
    jti: str
    revoked_at: datetime


CreateCustomerResult = Annotated[
    Customer | gql_errors.InvalidInput | gql_errors.CustomerEmailTaken,
    strawberry.union("CreateCustomerResult"),
]
CreateInvoiceResult = Annotated[
    Invoice
    | gql_errors.CustomerNotFound
    | gql_errors.CurrencyNotFound
    | gql_errors.InvoiceNumberTaken
    | gql_errors.InvalidInput,
    strawberry.union("CreateInvoiceResult"),
]
TopUpWalletResult = Annotated[
    Wallet | gql_errors.CustomerNotFound | gql_errors.CurrencyNotFound | gql_errors.InvalidInput,
    strawberry.union("TopUpWalletResult"),
]
VoidInvoiceResult = Annotated[
    Invoice
    | gql_errors.InvoiceNotFound
    | gql_errors.InvoiceAlreadyPaid
    | gql_errors.InvoiceVoid
    | gql_errors.InvoiceHasPayments,
    strawberry.union("VoidInvoiceResult"),
]
RevokeSessionResult = Annotated[
    RevokeSessionSuccess | gql_errors.SessionNotFound,
    strawberry.union("RevokeSessionResult"),
]


def _utc(value: datetime | None, field: str) -> datetime | None:
    """Inputs without a zone are taken as UTC. An instant at the edge of the calendar may
    have no UTC date (0001-01-01T00:00+01:00 is in year 0): InvalidInput, not a crash."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise errors.InvalidInput(field=field, reason="OUT_OF_RANGE") from None


@strawberry.type
class Mutation(WebhookMutation):
    @strawberry.mutation(
        description="Pay an invoice from one of the customer's wallets.",
        extensions=[PaymentOutcome()],  # counted by outcome (app.observability.metrics)
    )
    @maps_domain_errors
    async def pay_invoice(
        self, info: Info[Context, None], input: PayInvoiceInput
    ) -> PayInvoiceResult:
        context = info.context
        # Token, guard (suspended, cloneId) and rate limit: PaymentGate, before any resolver.
        principal = context.require_principal()
        command = PayInvoice(
            tenant_id=principal.tenant_id,
            customer_id=principal.customer_id or "",
            invoice_number=input.invoice_number,
            currency=input.currency,
            amount=input.amount,
            wallet_currency=input.wallet_currency,
            exchange_rate=input.exchange_rate,
            expected_balance_due=input.expected_balance_due,
            apply_early_payment_discount=bool(input.apply_early_payment_discount),
            reference=input.reference,
            memo=input.memo,
            accounting_code=input.accounting_code,
            idempotency_key=input.idempotency_key,
            # A remembered session, not read for this request: the payment's read confirms it.
            session_jti=principal.jti if context.paying else None,
        )
        try:
            settlement = await settle_invoice(context.db, command)
        except (errors.SessionEnded, errors.CustomerSuspended) as ended:
            if context.gate is not None:
                context.gate.sessions.forget(principal.jti)
            raise (
                unauthenticated() if isinstance(ended, errors.SessionEnded) else forbidden()
            ) from None
        receipt = settlement.receipt
        if settlement.rows is not None:
            # The rows as committed: no read after the commit that could fail and make
            # a payment that stands look like one that did not happen.
            payment, invoice, wallet = settlement.rows
        else:
            # A replay wrote nothing; show the rows as they are now.
            async with UnitOfWork(context.db) as uow:
                found = await uow.payments.get(receipt.payment_id)
                current = await uow.invoices.get(receipt.invoice_id)
                holder = await uow.wallets.get_by_id(receipt.wallet_id)
            assert found is not None and current is not None and holder is not None
            payment, invoice, wallet = found, current, holder
        # This request's loaders may hold rows from before the payment.
        context.loaders.invoice.prime(invoice.id, invoice, force=True)
        context.loaders.wallet.prime(wallet.id, wallet, force=True)
        return PayInvoiceSuccess(
            payment=Payment.of(payment),
            invoice=Invoice.of(invoice),
            wallet=Wallet.of(wallet),
            replayed=receipt.replayed,
        )

    @strawberry.mutation(description="Admin: add a customer to the tenant.")
    @maps_domain_errors
    async def create_customer(
        self, info: Info[Context, None], input: CreateCustomerInput
    ) -> CreateCustomerResult:
        principal = info.context.require_admin()
        row = await admin.create_customer(
            info.context.db, principal.tenant_id, input.name, input.email
        )
        return Customer.of(row)

    @strawberry.mutation(description="Admin: issue an invoice to a customer of the tenant.")
    @maps_domain_errors
    async def create_invoice(
        self, info: Info[Context, None], input: CreateInvoiceInput
    ) -> CreateInvoiceResult:
        principal = info.context.require_admin()
        terms = input.early_payment_discount
        new = admin.NewInvoice(
            number=input.number,
            customer_id=str(input.customer_id),
            currency=input.currency,
            total=input.total,
            due_at=_utc(input.due_at, "dueAt"),
            discount_percent=terms.percent if terms else None,
            discount_until=_utc(terms.until, "earlyPaymentDiscount.until") if terms else None,
        )
        row = await admin.create_invoice(info.context.db, principal.tenant_id, new)
        return Invoice.of(row)

    @strawberry.mutation(description="Admin: credit a customer's wallet (created if missing).")
    @maps_domain_errors
    async def top_up_wallet(
        self, info: Info[Context, None], input: TopUpWalletInput
    ) -> TopUpWalletResult:
        principal = info.context.require_admin()
        if input.reference is not None and len(input.reference) > 200:
            raise bad_input("Invalid reference: TOO_LONG")
        row = await admin.top_up_wallet(
            info.context.db,
            principal.tenant_id,
            str(input.customer_id),
            input.currency,
            input.amount,
            input.reference,
        )
        return Wallet.of(row)

    @strawberry.mutation(description="Admin: void an invoice that has no payments.")
    @maps_domain_errors
    async def void_invoice(self, info: Info[Context, None], number: int) -> VoidInvoiceResult:
        principal = info.context.require_admin()
        row = await admin.void_invoice(info.context.db, principal.tenant_id, number)
        return Invoice.of(row)

    @strawberry.mutation(
        description="Admin: refund all or part of a payment into the wallet that paid it."
    )
    @maps_domain_errors
    async def refund_payment(
        self, info: Info[Context, None], input: RefundPaymentInput
    ) -> RefundPaymentResult:
        principal = info.context.require_admin()
        return await refund(info.context, principal, input)

    @strawberry.mutation(description="Admin: revoke a session; its token stops working at once.")
    @maps_domain_errors
    async def revoke_session(self, info: Info[Context, None], jti: str) -> RevokeSessionResult:
        principal = info.context.require_admin()
        row = await admin.revoke_session(info.context.db, principal.tenant_id, jti)
        assert row.revoked_at is not None
        return RevokeSessionSuccess(jti=row.jti, revoked_at=row.revoked_at)
