"""GraphQL error types: one per domain error, same name, with `message`, `code` and data.

`to_graphql` is the one table from domain errors to union members; `maps_domain_errors`
applies it to a resolver, so no resolver catches a domain error itself.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, ParamSpec, TypeVar

import strawberry

from app import errors
from app.api.graphql.context import bad_input
from app.api.graphql.types import Money

P = ParamSpec("P")
R = TypeVar("R")


@strawberry.enum
class ErrorCode(Enum):
    USER_NOT_FOUND = "USER_NOT_FOUND"
    CURRENCY_NOT_FOUND = "CURRENCY_NOT_FOUND"
    INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"
    INVOICE_OWNERSHIP_MISMATCH = "INVOICE_OWNERSHIP_MISMATCH"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    INVOICE_ALREADY_PAID = "INVOICE_ALREADY_PAID"
    INVOICE_VOID = "INVOICE_VOID"
    WALLET_NOT_FOUND = "WALLET_NOT_FOUND"
    WRONG_AMOUNT = "WRONG_AMOUNT"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    CUSTOMER_EMAIL_TAKEN = "CUSTOMER_EMAIL_TAKEN"
    INVOICE_NUMBER_TAKEN = "INVOICE_NUMBER_TAKEN"
    INVOICE_HAS_PAYMENTS = "INVOICE_HAS_PAYMENTS"
    INVALID_INPUT = "INVALID_INPUT"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
    REFUND_EXCEEDS_REFUNDABLE = "REFUND_EXCEEDS_REFUNDABLE"
    WEBHOOK_ENDPOINT_NOT_FOUND = "WEBHOOK_ENDPOINT_NOT_FOUND"
    EVENT_NOT_FOUND = "EVENT_NOT_FOUND"


WrongAmountReason = strawberry.enum(errors.WrongAmountReason)


@strawberry.interface(description="Every expected failure: a message and a machine code.")
class Error:
    message: str
    code: ErrorCode
    replayed: bool = strawberry.field(
        default=False,
        description="True when this is the first outcome of an idempotency key, answered"
        " again: nothing was tried again.",
    )


@strawberry.type
class UserNotFound(Error):
    pass


@strawberry.type
class CurrencyNotFound(Error):
    currency: str


@strawberry.type
class InvoiceNotFound(Error):
    number: int


@strawberry.type
class InvoiceOwnershipMismatch(Error):
    number: int


@strawberry.type
class CurrencyMismatch(Error):
    expected: str
    received: str


@strawberry.type
class InvoiceAlreadyPaid(Error):
    number: int


@strawberry.type
class InvoiceVoid(Error):
    number: int


@strawberry.type
class WalletNotFound(Error):
    currency: str


@strawberry.type
class WrongAmount(Error):
    reason: errors.WrongAmountReason
    balance_due: Money


@strawberry.type
class InsufficientFunds(Error):
    balance: Money
    required: Money


@strawberry.type
class IdempotencyKeyReused(Error):
    key: str


@strawberry.type
class CustomerNotFound(Error):
    customer_id: strawberry.ID


@strawberry.type
class CustomerEmailTaken(Error):
    email: str


@strawberry.type
class InvoiceNumberTaken(Error):
    number: int


@strawberry.type
class InvoiceHasPayments(Error):
    number: int


@strawberry.type
class InvalidInput(Error):
    field: str
    reason: str


@strawberry.type
class SessionNotFound(Error):
    jti: str


@strawberry.type
class PaymentNotFound(Error):
    payment_id: strawberry.ID


@strawberry.type
class RefundExceedsRefundable(Error):
    refundable: Money


@strawberry.type
class WebhookEndpointNotFound(Error):
    endpoint_id: strawberry.ID


@strawberry.type
class EventNotFound(Error):
    event_id: strawberry.ID


def _wrong_amount(e: errors.WrongAmount) -> dict[str, Any]:
    return {
        "reason": errors.WrongAmountReason(e.reason),
        "balance_due": Money.of(e.balance_due, e.currency),
    }


def _insufficient(e: errors.InsufficientFunds) -> dict[str, Any]:
    return {
        "balance": Money.of(e.balance, e.currency),
        "required": Money.of(e.required, e.currency),
    }


_TABLE: dict[type[errors.DomainError], tuple[type[Error], Callable[[Any], dict[str, Any]]]] = {
    errors.UserNotFound: (UserNotFound, lambda e: {}),
    errors.CurrencyNotFound: (CurrencyNotFound, lambda e: {"currency": e.currency}),
    errors.InvoiceNotFound: (InvoiceNotFound, lambda e: {"number": e.number}),
    errors.InvoiceOwnershipMismatch: (InvoiceOwnershipMismatch, lambda e: {"number": e.number}),
    errors.CurrencyMismatch: (
        CurrencyMismatch,
        lambda e: {"expected": e.expected, "received": e.received},
    ),
    errors.InvoiceAlreadyPaid: (InvoiceAlreadyPaid, lambda e: {"number": e.number}),
    errors.InvoiceVoid: (InvoiceVoid, lambda e: {"number": e.number}),
    errors.WalletNotFound: (WalletNotFound, lambda e: {"currency": e.currency}),
    errors.WrongAmount: (WrongAmount, _wrong_amount),
    errors.InsufficientFunds: (InsufficientFunds, _insufficient),
    errors.IdempotencyKeyReused: (IdempotencyKeyReused, lambda e: {"key": e.key}),
    errors.CustomerNotFound: (
        CustomerNotFound,
        lambda e: {"customer_id": strawberry.ID(e.customer_id)},
    ),
    errors.CustomerEmailTaken: (CustomerEmailTaken, lambda e: {"email": e.email}),
    errors.InvoiceNumberTaken: (InvoiceNumberTaken, lambda e: {"number": e.number}),
    errors.InvoiceHasPayments: (InvoiceHasPayments, lambda e: {"number": e.number}),
    errors.InvalidInput: (InvalidInput, lambda e: {"field": e.field, "reason": e.reason}),
    errors.SessionNotFound: (SessionNotFound, lambda e: {"jti": e.jti}),
    errors.PaymentNotFound: (
        PaymentNotFound,
        lambda e: {"payment_id": strawberry.ID(e.payment_id)},
    ),
    errors.RefundExceedsRefundable: (
        RefundExceedsRefundable,
        lambda e: {"refundable": Money.of(e.refundable, e.currency)},
    ),
    errors.WebhookEndpointNotFound: (
        WebhookEndpointNotFound,
        lambda e: {"endpoint_id": strawberry.ID(e.endpoint_id)},
    ),
    errors.EventNotFound: (EventNotFound, lambda e: {"event_id": strawberry.ID(e.event_id)}),
}


def graphql_type(domain_error: type[errors.DomainError]) -> type[Error]:
    """The union member a domain error is answered with."""
    return _TABLE[domain_error][0]


def to_graphql(error: errors.DomainError) -> Error:
    """The union member for a domain error."""
    member, fields = _TABLE[type(error)]
    return member(
        message=error.message,
        code=ErrorCode(error.code),
        replayed=error.replayed,
        **fields(error),
    )


def mapped_errors() -> set[type[errors.DomainError]]:
    return set(_TABLE)


def maps_domain_errors(resolver: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Error]]:
    """The resolver, answering a raised domain error with its union member (a member its
    result union must list: tests/api/graphql/test_error_unions.py) and a malformed request
    (`InvalidRequest`) with a top-level BAD_USER_INPUT error. Strawberry reads the
    resolver's own signature and return type through `functools.wraps`."""

    @functools.wraps(resolver)
    async def resolve(*args: P.args, **kwargs: P.kwargs) -> R | Error:
        try:
            return await resolver(*args, **kwargs)
        except errors.InvalidRequest as error:
            raise bad_input(f"Invalid {error.field}: {error.reason}") from None
        except errors.DomainError as error:
            return to_graphql(error)

    return resolve
