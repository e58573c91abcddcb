"""`POST /api/v1/billing/invoice/pay`: the seed's REST contract over `pay_invoice`.

A thin edge: it reads the body, runs the gateway checks in their order (token, guard,
rate limit, parameters: docs/design.md, "The checks, in order") and maps the service's
outcome to a status and message.
No business rule lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app import errors
from app.auth.tokens import AuthError, Principal
from app.http.gate import Gate
from app.http.guard import ACCESS_DENIED
from app.http.ratelimit import TOO_MANY_REQUESTS, RateDecision
from app.kit.money import require_currency, to_decimal
from app.kit.strict_json import DuplicateKey, loads_exact
from app.kit.text import storable
from app.payments import PayInvoice, PaymentReceipt, pay_invoice

PATH = "/api/v1/billing/invoice/pay"
SUCCESS = "Invoice payment successful"
UNAUTHORIZED = "Unauthorized"
MISSING_PARAMETERS = "Missing One or More Required Parameters"
TOO_LARGE = "Request body too large"
MAX_BODY_BYTES = 64 * 1024
INT32 = 2**31
# The GraphQL `Decimal` scalar's bounds: at most 24 integer and 16 fractional digits.
# A JSON number beyond them (1e999999999, 1e-999999999) is not an amount but a mistyped
# parameter, and the service must never see one (it would overflow or never finish).
MAX_INTEGER_DIGITS = 24
MAX_FRACTION_DIGITS = 16

# `X-Error-Code` of the answers the gateway gives before the service is reached; the
# service's own errors carry their `DomainError.code`.
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
RATE_LIMITED = "RATE_LIMITED"
BAD_USER_INPUT = "BAD_USER_INPUT"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"

PART = "partPaymentFromWalletBalance"
# Every field the body may hold, at each level; any other is refused (Stripe's rule: a
# misspelt `chargeTotalCurrent` must not turn a part payment into paying the whole invoice).
BODY_FIELDS = frozenset(
    {
        "cloneId",
        "invoice",
        "currency",
        PART,
        "applyEarlyPaymentDiscount",
        "reference",
        "memo",
        "accountingCode",
    }
)
PART_FIELDS = frozenset({"currency", "exchangeRate", "chargeTotalBefore", "chargeTotalCurrent"})
MAX_PARAM_CHARS = 200  # of a 400 answer's `param`, which may echo a client's unknown key
# The service's names of what REST takes from a header, as REST names them.
HEADER_PARAMS = {"idempotencyKey": "Idempotency-Key"}

# The seed document's example request (against the demo tenant).
SEED_EXAMPLE: dict[str, Any] = {
    "cloneId": "64f000000000000000000002",
    "invoice": 100123,
    "currency": "NGN",
    "partPaymentFromWalletBalance": {
        "currency": "NGN",
        "exchangeRate": 1,
        "chargeTotalBefore": 15000,
        "chargeTotalCurrent": 5000,
    },
}

STATUS: dict[type[errors.DomainError], int] = {
    errors.UserNotFound: 404,
    errors.CurrencyNotFound: 404,
    errors.InvoiceNotFound: 404,
    errors.InvoiceOwnershipMismatch: 400,
    errors.CurrencyMismatch: 400,
    errors.InvoiceAlreadyPaid: 400,
    errors.InvoiceVoid: 400,
    errors.WalletNotFound: 400,
    errors.WrongAmount: 400,
    errors.InsufficientFunds: 400,
    errors.IdempotencyKeyReused: 409,
}


class BodyTooLarge(Exception):
    pass


def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def json_number(amount: Decimal) -> orjson.Fragment:
    """A Decimal as an exact JSON number (never through a float): 15000.00 → 15000."""
    return orjson.Fragment(format(amount.normalize(), "f").encode())


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def load_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, numbers as int or Decimal; InvalidRequest otherwise
    (a repeated key too, named by its path)."""
    try:
        body = loads_exact(raw)
    except DuplicateKey as error:
        raise errors.InvalidRequest(error.path, "DUPLICATE_KEY") from None
    except (ValueError, RecursionError):
        raise errors.InvalidRequest("body", "NOT_JSON") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("body", "NOT_AN_OBJECT")
    return body


def _present(data: dict[str, Any], name: str, required: bool) -> Any:
    value = data.get(name)
    if value is None and required:
        raise errors.InvalidRequest(name, "MISSING")
    return value


def _integer(data: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    """A 32-bit integer (GraphQL's `Int`). A JSON number with an integral value, such as
    100123.0, is that integer (as in JSON Schema and GraphQL); 100123.5 is not."""
    value = _present(data, name, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise errors.InvalidRequest(name, "NOT_AN_INTEGER")
    number = Decimal(value)
    # The range first: int() of 1e999999999 would never finish.
    if not -INT32 <= number < INT32 or number != number.to_integral_value():
        raise errors.InvalidRequest(name, "NOT_AN_INTEGER")
    return int(number)


def _text(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _present(data, name, required)
    if value is not None and not isinstance(value, str):
        raise errors.InvalidRequest(name, "NOT_A_STRING")
    if value is not None and not storable(value):
        raise errors.InvalidRequest(name, "NOT_TEXT")
    return value


def _number(data: dict[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise errors.InvalidRequest(name, "NOT_A_NUMBER")
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # NaN and Infinity never parse
    if number.adjusted() >= MAX_INTEGER_DIGITS or exponent < -MAX_FRACTION_DIGITS:
        raise errors.InvalidRequest(name, "OUT_OF_RANGE")
    return number


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise errors.InvalidRequest(name, "NOT_A_BOOLEAN")
    return bool(value)


def clone_id_of(body: dict[str, Any]) -> str | None:
    value = body.get("cloneId")
    return value if isinstance(value, str) else None


def param_name(path: str) -> str:
    """A field's path as the 400 answer names it: the client's own text, cut short, and a
    lone surrogate (which JSON escapes can carry) written out, as orjson refuses one."""
    path = HEADER_PARAMS.get(path, path)
    return path.encode("utf-8", "backslashreplace").decode()[:MAX_PARAM_CHARS]


def _only_known(data: dict[str, Any], known: frozenset[str], prefix: str = "") -> None:
    for name in data:
        if name not in known:
            raise errors.InvalidRequest(prefix + name, "UNKNOWN_FIELD")


@dataclass(frozen=True)
class _Part:
    amount: Decimal | None
    wallet_currency: str | None
    exchange_rate: Decimal | None
    expected_balance_due: Decimal | None


def _part(part: dict[str, Any]) -> _Part:
    """`partPaymentFromWalletBalance`; a refused field is named by its whole path."""
    try:
        return _Part(
            amount=_number(part, "chargeTotalCurrent"),
            wallet_currency=_text(part, "currency"),
            exchange_rate=_number(part, "exchangeRate"),
            expected_balance_due=_number(part, "chargeTotalBefore"),
        )
    except errors.InvalidRequest as error:
        raise errors.InvalidRequest(f"{PART}.{error.field}", error.reason) from None


def to_command(body: dict[str, Any], principal: Principal, key: str | None) -> PayInvoice:
    """The body, field by field, as the same command the GraphQL mutation builds."""
    _only_known(body, BODY_FIELDS)
    part_body = body.get(PART)
    if part_body is None:
        part_body = {}
    if isinstance(part_body, dict):
        _only_known(part_body, PART_FIELDS, f"{PART}.")
    _text(body, "cloneId")
    if not isinstance(part_body, dict):
        raise errors.InvalidRequest(PART, "NOT_AN_OBJECT")
    invoice = _integer(body, "invoice", required=True)
    currency = _text(body, "currency", required=True)
    assert invoice is not None and currency is not None
    part = _part(part_body)
    return PayInvoice(
        tenant_id=principal.tenant_id,
        customer_id=principal.customer_id or "",
        invoice_number=invoice,
        currency=currency,
        amount=part.amount,
        wallet_currency=part.wallet_currency,
        exchange_rate=part.exchange_rate,
        expected_balance_due=part.expected_balance_due,
        apply_early_payment_discount=_flag(body, "applyEarlyPaymentDiscount"),
        reference=_text(body, "reference"),
        memo=_text(body, "memo"),
        accounting_code=_text(body, "accountingCode"),
        idempotency_key=key,
    )


def success_body(receipt: PaymentReceipt) -> dict[str, Any]:
    invoice_currency = require_currency(receipt.currency)
    wallet_currency = require_currency(receipt.wallet_currency)

    def amount(minor: int) -> orjson.Fragment:
        return json_number(to_decimal(minor, invoice_currency))

    return {
        "message": SUCCESS,
        "invoiceNo": receipt.invoice_number,
        "amount": amount(receipt.invoice_total),
        "currency": receipt.currency,
        "walletBalance": json_number(to_decimal(receipt.wallet_balance, wallet_currency)),
        "walletCurrency": receipt.wallet_currency,
        "success": True,
        "amountPaid": amount(receipt.amount_paid_now),
        "balanceDue": amount(receipt.balance_due),
        "status": receipt.status.lower(),
        "paymentId": receipt.payment_id,
    }


@dataclass
class PayRoute:
    gate: Gate

    async def handle(self, request: Request) -> Response:
        gate = self.gate
        try:
            principal = await gate.authenticate(request.headers.get("authorization"))
        except AuthError:
            return respond(
                401,
                {"message": UNAUTHORIZED},
                {"WWW-Authenticate": "Bearer", "X-Error-Code": UNAUTHENTICATED},
            )
        try:
            raw: bytes | None = await read_body(request)
        except BodyTooLarge:
            raw = None
        body: dict[str, Any] | errors.InvalidRequest
        try:
            body = load_object(raw) if raw is not None else {}
        except errors.InvalidRequest as error:
            body = error
        clone_id = clone_id_of(body) if isinstance(body, dict) else None
        if gate.denies(principal, [clone_id]):
            return respond(403, {"message": ACCESS_DENIED}, {"X-Error-Code": FORBIDDEN})
        decision = await gate.consume(principal, request.state.client_ip, cost=1)
        limit_headers = decision.headers()
        if not decision.allowed:
            return respond(
                429, {"message": TOO_MANY_REQUESTS}, {**limit_headers, "X-Error-Code": RATE_LIMITED}
            )
        if raw is None:
            return respond(
                413, {"message": TOO_LARGE}, {**limit_headers, "X-Error-Code": PAYLOAD_TOO_LARGE}
            )
        try:
            if isinstance(body, errors.InvalidRequest):
                raise body
            command = to_command(body, principal, request.headers.get("idempotency-key"))
            receipt = await pay_invoice(gate.db, command)
        except errors.InvalidRequest as error:
            return respond(
                400,
                {"message": MISSING_PARAMETERS, "param": param_name(error.field)},
                {**limit_headers, "X-Error-Code": BAD_USER_INPUT},
            )
        except errors.DomainError as error:
            return respond(
                STATUS[type(error)], {"message": error.message}, _headers(error, decision)
            )
        if receipt.replayed:
            limit_headers["Idempotent-Replayed"] = "true"
        return respond(200, success_body(receipt), limit_headers)


def _headers(error: errors.DomainError, decision: RateDecision) -> dict[str, str]:
    headers = {**decision.headers(), "X-Error-Code": error.code}
    if error.replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers
