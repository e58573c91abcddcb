"""Domain errors: expected failures, raised by services and mapped once at each edge.

    DomainError                      (code, message; plain data fields)
     ├── UserNotFound                 authenticated customer missing in the tenant
     ├── CurrencyNotFound             unknown ISO 4217 code
     ├── InvoiceNotFound              no invoice with that number in the tenant
     ├── InvoiceOwnershipMismatch     invoice belongs to another customer
     ├── CurrencyMismatch             request currency != invoice currency
     ├── InvoiceAlreadyPaid           invoice is PAID
     ├── InvoiceVoid                  invoice is VOID
     ├── WalletNotFound               the paying wallet does not exist
     ├── WrongAmount                  amount, precision, rate, stale balance or discount
     ├── InsufficientFunds            wallet balance below the debit
     ├── IdempotencyKeyReused         same key, other parameters
     ├── CustomerNotFound             (admin) no such customer in the tenant
     ├── CustomerEmailTaken           (admin) email already used in the tenant
     ├── InvoiceNumberTaken           (admin) invoice number already used in the tenant
     ├── InvoiceHasPayments           (admin) cannot void an invoice with payments
     ├── InvalidInput                 (admin) a field is malformed
     ├── SessionNotFound              (admin) no such session in the tenant
     ├── PaymentNotFound              (admin, refund) no such payment in the tenant
     ├── RefundExceedsRefundable      (admin, refund) more than is left to refund
     ├── WebhookEndpointNotFound      (admin) no such webhook endpoint in the tenant
     └── EventNotFound                (admin) no such event in the tenant

Edges never invent their own errors for these: GraphQL maps each class to a union
member of the same name, REST maps each to a status and message.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, ClassVar


@dataclasses.dataclass
class DomainError(Exception):
    code: ClassVar[str] = "DOMAIN_ERROR"
    message: ClassVar[str] = "Domain error"
    replayed = False  # set on an outcome an idempotency key answers again (not a field)

    def __str__(self) -> str:
        return self.message

    def to_data(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "fields": dataclasses.asdict(self)}

    @staticmethod
    def from_data(data: dict[str, Any]) -> DomainError:
        cls = ERROR_TYPES[data["type"]]
        return cls(**data["fields"])


@dataclasses.dataclass
class UserNotFound(DomainError):
    code: ClassVar[str] = "USER_NOT_FOUND"
    message: ClassVar[str] = "User not found"


@dataclasses.dataclass
class CurrencyNotFound(DomainError):
    currency: str
    code: ClassVar[str] = "CURRENCY_NOT_FOUND"
    message: ClassVar[str] = "Currency not found"


@dataclasses.dataclass
class InvoiceNotFound(DomainError):
    number: int
    code: ClassVar[str] = "INVOICE_NOT_FOUND"
    message: ClassVar[str] = "Invoice not found"


@dataclasses.dataclass
class InvoiceOwnershipMismatch(DomainError):
    number: int
    code: ClassVar[str] = "INVOICE_OWNERSHIP_MISMATCH"
    message: ClassVar[str] = "Customer Invoice does not match expected credentials"


@dataclasses.dataclass
class CurrencyMismatch(DomainError):
    expected: str
    received: str
    code: ClassVar[str] = "CURRENCY_MISMATCH"
    message: ClassVar[str] = "Currency does not match expected credentials"


@dataclasses.dataclass
class InvoiceAlreadyPaid(DomainError):
    number: int
    code: ClassVar[str] = "INVOICE_ALREADY_PAID"
    message: ClassVar[str] = "Invoice already paid"


@dataclasses.dataclass
class InvoiceVoid(DomainError):
    number: int
    code: ClassVar[str] = "INVOICE_VOID"
    message: ClassVar[str] = "Invoice is void"


@dataclasses.dataclass
class WalletNotFound(DomainError):
    currency: str
    code: ClassVar[str] = "WALLET_NOT_FOUND"
    message: ClassVar[str] = "Wallet not found"


@dataclasses.dataclass
class WrongAmount(DomainError):
    """`reason` is a WrongAmountReason value; amounts are minor units of `currency`."""

    reason: str
    currency: str
    balance_due: int
    code: ClassVar[str] = "WRONG_AMOUNT"
    message: ClassVar[str] = "Wrong Amount"


class WrongAmountReason(Enum):
    """Why an amount was refused (`WrongAmount.reason` holds the value)."""

    NOT_POSITIVE = "NOT_POSITIVE"
    EXCEEDS_BALANCE_DUE = "EXCEEDS_BALANCE_DUE"
    TOO_PRECISE = "TOO_PRECISE"
    TOO_LARGE = "TOO_LARGE"
    INVALID_EXCHANGE_RATE = "INVALID_EXCHANGE_RATE"
    STALE_BALANCE_DUE = "STALE_BALANCE_DUE"
    DISCOUNT_NOT_APPLICABLE = "DISCOUNT_NOT_APPLICABLE"
    PARTIAL_REFUND_OF_DISCOUNTED_PAYMENT = "PARTIAL_REFUND_OF_DISCOUNTED_PAYMENT"
    STALE_REFUNDABLE = "STALE_REFUNDABLE"


@dataclasses.dataclass
class InsufficientFunds(DomainError):
    """Minor units of the wallet's `currency`."""

    currency: str
    balance: int
    required: int
    code: ClassVar[str] = "INSUFFICIENT_FUNDS"
    message: ClassVar[str] = "Insufficient funds"


@dataclasses.dataclass
class IdempotencyKeyReused(DomainError):
    key: str
    code: ClassVar[str] = "IDEMPOTENCY_KEY_REUSED"
    message: ClassVar[str] = "Idempotency key reused with different parameters"


@dataclasses.dataclass
class CustomerNotFound(DomainError):
    customer_id: str
    code: ClassVar[str] = "CUSTOMER_NOT_FOUND"
    message: ClassVar[str] = "Customer not found"


@dataclasses.dataclass
class CustomerEmailTaken(DomainError):
    email: str
    code: ClassVar[str] = "CUSTOMER_EMAIL_TAKEN"
    message: ClassVar[str] = "A customer with this email already exists"


@dataclasses.dataclass
class InvoiceNumberTaken(DomainError):
    number: int
    code: ClassVar[str] = "INVOICE_NUMBER_TAKEN"
    message: ClassVar[str] = "An invoice with this number already exists"


@dataclasses.dataclass
class InvoiceHasPayments(DomainError):
    number: int
    code: ClassVar[str] = "INVOICE_HAS_PAYMENTS"
    message: ClassVar[str] = "An invoice with payments cannot be voided"


@dataclasses.dataclass
class InvalidInput(DomainError):
    field: str
    reason: str
    code: ClassVar[str] = "INVALID_INPUT"
    message: ClassVar[str] = "Invalid input"


@dataclasses.dataclass
class SessionNotFound(DomainError):
    jti: str
    code: ClassVar[str] = "SESSION_NOT_FOUND"
    message: ClassVar[str] = "Session not found"


@dataclasses.dataclass
class PaymentNotFound(DomainError):
    payment_id: str
    code: ClassVar[str] = "PAYMENT_NOT_FOUND"
    message: ClassVar[str] = "Payment not found"


@dataclasses.dataclass
class RefundExceedsRefundable(DomainError):
    """Minor units of the payment's (invoice) `currency`."""

    currency: str
    refundable: int
    code: ClassVar[str] = "REFUND_EXCEEDS_REFUNDABLE"
    message: ClassVar[str] = "Refund exceeds what is left to refund"


@dataclasses.dataclass
class WebhookEndpointNotFound(DomainError):
    endpoint_id: str
    code: ClassVar[str] = "WEBHOOK_ENDPOINT_NOT_FOUND"
    message: ClassVar[str] = "Webhook endpoint not found"


@dataclasses.dataclass
class EventNotFound(DomainError):
    event_id: str
    code: ClassVar[str] = "EVENT_NOT_FOUND"
    message: ClassVar[str] = "Event not found"


ERROR_TYPES: dict[str, type[DomainError]] = {
    cls.__name__: cls
    for cls in (
        UserNotFound,
        CurrencyNotFound,
        InvoiceNotFound,
        InvoiceOwnershipMismatch,
        CurrencyMismatch,
        InvoiceAlreadyPaid,
        InvoiceVoid,
        WalletNotFound,
        WrongAmount,
        InsufficientFunds,
        IdempotencyKeyReused,
        CustomerNotFound,
        CustomerEmailTaken,
        InvoiceNumberTaken,
        InvoiceHasPayments,
        InvalidInput,
        SessionNotFound,
        PaymentNotFound,
        RefundExceedsRefundable,
        WebhookEndpointNotFound,
        EventNotFound,
    )
}


class InvalidRequest(ValueError):
    """The request itself is malformed (Check.INVALID_REQUEST: a parameter missing or mistyped).

    Not a domain error: GraphQL answers a top-level BAD_USER_INPUT error, REST
    400 `Missing One or More Required Parameters`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SessionEnded(Exception):
    """The session a payment was asked under was revoked, has expired or is gone, as the
    payment's own read found it (`PayInvoice.session_jti`). Not a domain error: the edges
    answer it as any other unauthenticated request (401, UNAUTHENTICATED)."""


class CustomerSuspended(Exception):
    """The paying customer was suspended, as the payment's own read found it. Not a
    domain error: the edges answer it as the guard does (403, FORBIDDEN)."""
