"""The `refundPayment` mutation's input, answer and work: unpack, call
`app.refunds.refund_payment`, show the rows it committed."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from app.api.graphql import errors as gql_errors
from app.api.graphql.context import Context
from app.api.graphql.types import Invoice, Payment, Refund, Wallet
from app.auth.tokens import Principal
from app.db.uow import UnitOfWork
from app.refunds import RefundPayment, refund_payment


@strawberry.input
class RefundPaymentInput:
    payment_id: strawberry.ID
    amount: Decimal | None = strawberry.field(
        default=None,
        description="In the invoice currency; default: all that is still refundable.",
    )
    reason: str | None = None
    expected_refundable: Decimal | None = strawberry.field(
        default=None, description="Guard against stale state: must equal the refundable now."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Shared by the tenant's admins."
    )


@strawberry.type
class RefundPaymentSuccess:
    refund: Refund
    payment: Payment
    invoice: Invoice
    wallet: Wallet
    replayed: bool


RefundPaymentResult = Annotated[
    RefundPaymentSuccess
    | gql_errors.PaymentNotFound
    | gql_errors.RefundExceedsRefundable
    | gql_errors.WrongAmount
    | gql_errors.IdempotencyKeyReused,
    strawberry.union("RefundPaymentResult"),
]


async def refund(
    context: Context, principal: Principal, input: RefundPaymentInput
) -> RefundPaymentSuccess:
    """Refund as `principal` (an admin); domain errors propagate to `maps_domain_errors`."""
    command = RefundPayment(
        tenant_id=principal.tenant_id,
        payment_id=str(input.payment_id),
        amount=input.amount,
        reason=input.reason,
        expected_refundable=input.expected_refundable,
        idempotency_key=input.idempotency_key,
    )
    result = await refund_payment(context.db, command)
    loaders = context.loaders
    rows = result.rows
    if rows is not None:
        # The rows as committed: no read after the commit that could fail and make a
        # refund that stands look like one that did not happen.
        refund_row, payment, invoice, wallet = rows.refund, rows.payment, rows.invoice, rows.wallet
        loaders.refunds_by_payment.prime(payment.id, rows.payment_refunds, force=True)
        loaders.refunds_by_invoice.prime(invoice.id, rows.invoice_refunds, force=True)
    else:
        # A replay wrote nothing; show the rows as they are now.
        async with UnitOfWork(context.db) as uow:
            found = await uow.refunds.get_by_ids([result.refund_id])
            paid = await uow.payments.get(result.payment_id)
            current = await uow.invoices.get(result.invoice_id)
            holder = await uow.wallets.get_by_id(result.wallet_id)
        assert found and paid is not None and current is not None and holder is not None
        refund_row, payment, invoice, wallet = found[0], paid, current, holder
    # This request's loaders may hold rows from before the refund.
    loaders.payment.prime(payment.id, payment, force=True)
    loaders.invoice.prime(invoice.id, invoice, force=True)
    loaders.wallet.prime(wallet.id, wallet, force=True)
    return RefundPaymentSuccess(
        refund=Refund.of(refund_row),
        payment=Payment.of(payment),
        invoice=Invoice.of(invoice),
        wallet=Wallet.of(wallet),
        replayed=result.replayed,
    )
