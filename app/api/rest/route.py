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
from app.api.rest.body import BODY_FIELDS as BODY_FIELDS  # the route's names for them
from app.api.rest.body import PART as PART
from app.api.rest.body import PART_FIELDS as PART_FIELDS
from app.api.rest.body import PartPayment, parse_body
from app.auth.tokens import AuthError, Principal
from app.http.gate import Gate
from app.http.guard import ACCESS_DENIED
from app.http.ratelimit import TOO_MANY_REQUESTS, RateDecision
from app.kit.money import require_currency, to_decimal
from app.kit.strict_json import DuplicateKey, loads_exact
from app.payments import PayInvoice, PaymentReceipt, pay_invoice

PATH = "/api/v1/billing/invoice/pay"
SUCCESS = "Invoice payment successful"
UNAUTHORIZED = "Unauthorized"
MISSING_PARAMETERS = "Missing One or More Required Parameters"
TOO_LARGE = "Request body too large"
MAX_BODY_BYTES = 64 * 1024

# `X-Error-Code` of the answers the gateway gives before the service is reached; the
# service's own errors carry their `DomainError.code`.
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
RATE_LIMITED = "RATE_LIMITED"
BAD_USER_INPUT = "BAD_USER_INPUT"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"

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


def clone_id_of(body: dict[str, Any]) -> str | None:
    value = body.get("cloneId")
    return value if isinstance(value, str) else None


def param_name(path: str) -> str:
    """A field's path as the 400 answer names it: the client's own text, cut short, and a
    lone surrogate (which JSON escapes can carry) written out, as orjson refuses one."""
    path = HEADER_PARAMS.get(path, path)
    return path.encode("utf-8", "backslashreplace").decode()[:MAX_PARAM_CHARS]


def to_command(body: dict[str, Any], principal: Principal, key: str | None) -> PayInvoice:
    """The body, checked by its model (app/api/rest/body.py), as the same command the
    GraphQL mutation builds."""
    valid = parse_body(body)
    part = valid.partPaymentFromWalletBalance or PartPayment()
    return PayInvoice(
        tenant_id=principal.tenant_id,
        customer_id=principal.customer_id or "",
        invoice_number=valid.invoice,
        currency=valid.currency,
        amount=part.chargeTotalCurrent,
        wallet_currency=part.currency,
        exchange_rate=part.exchangeRate,
        expected_balance_due=part.chargeTotalBefore,
        apply_early_payment_discount=bool(valid.applyEarlyPaymentDiscount),
        reference=valid.reference,
        memo=valid.memo,
        accounting_code=valid.accountingCode,
        idempotency_key=key,
        session_jti=principal.jti,  # the payment's read confirms it (Gate.authenticate)
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
            principal = await gate.authenticate(request.headers.get("authorization"), paying=True)
        except AuthError:
            return unauthorized()
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
            return access_denied()
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
        except errors.SessionEnded:  # a remembered session, ended since (app.auth.tokens)
            gate.sessions.forget(principal.jti)
            return unauthorized()
        except errors.CustomerSuspended:
            gate.sessions.forget(principal.jti)
            return access_denied()
        if receipt.replayed:
            limit_headers["Idempotent-Replayed"] = "true"
        return respond(200, success_body(receipt), limit_headers)


def unauthorized() -> Response:
    return respond(
        401,
        {"message": UNAUTHORIZED},
        {"WWW-Authenticate": "Bearer", "X-Error-Code": UNAUTHENTICATED},
    )


def access_denied() -> Response:
    return respond(403, {"message": ACCESS_DENIED}, {"X-Error-Code": FORBIDDEN})


def _headers(error: errors.DomainError, decision: RateDecision) -> dict[str, str]:
    headers = {**decision.headers(), "X-Error-Code": error.code}
    if error.replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers
