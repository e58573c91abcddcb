"""The OpenAPI 3.1 document of the REST route, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from app import rest
from app.guard import ACCESS_DENIED
from app.ratelimit import TOO_MANY_REQUESTS
from app.request_context import UNEXPECTED_ERROR

OPENAPI_PATH = "/api/v1/openapi.json"

_AMOUNT = {"type": "number", "description": "Major units, exact (never rounded through a float)."}
_RATE_HEADERS = {
    "RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Attempts per window."},
    "RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Attempts left."},
    "RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Seconds until room."},
}
_REQUEST_ID = {
    "X-Request-ID": {"schema": {"type": "string"}, "description": "This request's id (logs)."}
}


def _message(*messages: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"message": {"type": "string", "enum": list(messages)}},
        "required": ["message"],
    }


def _error(description: str, *messages: str, headers: dict[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _message(*messages)}},
        "headers": {**_REQUEST_ID, **(headers or {})},
    }
    return response


_PART_PAYMENT = {
    "type": "object",
    "description": "How to pay: which wallet, at what rate, how much, against which balance.",
    "properties": {
        "currency": {"type": "string", "description": "Currency of the paying wallet."},
        "exchangeRate": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Invoice-currency units one wallet-currency unit buys (1 if equal).",
        },
        "chargeTotalBefore": {
            "type": "number",
            "description": "The balance due the client expects (stale-state guard).",
        },
        "chargeTotalCurrent": {
            "type": "number",
            "description": "Amount to settle now, invoice currency; default the whole balance.",
        },
    },
}

_REQUEST = {
    "type": "object",
    "properties": {
        "cloneId": {"type": "string", "description": "Tenant; must be the token's tenant."},
        "invoice": {"type": "integer", "description": "Invoice number."},
        "currency": {"type": "string", "description": "Invoice currency (ISO 4217)."},
        "partPaymentFromWalletBalance": _PART_PAYMENT,
        "applyEarlyPaymentDiscount": {"type": "boolean"},
        "reference": {"type": "string", "maxLength": 200},
        "memo": {"type": "string", "maxLength": 1000},
        "accountingCode": {"type": "string", "maxLength": 100},
    },
    "required": ["invoice", "currency"],
}

_SUCCESS = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "const": rest.SUCCESS},
        "invoiceNo": {"type": "integer"},
        "amount": {**_AMOUNT, "description": "The invoice total."},
        "currency": {"type": "string"},
        "walletBalance": {**_AMOUNT, "description": "The paying wallet's balance after."},
        "walletCurrency": {"type": "string"},
        "success": {"type": "boolean", "const": True},
        "amountPaid": {**_AMOUNT, "description": "Settled by this payment."},
        "balanceDue": {**_AMOUNT, "description": "Left to pay."},
        "status": {"type": "string", "enum": ["paid", "partially_paid"]},
        "paymentId": {"type": "string"},
    },
    "required": [
        "message",
        "invoiceNo",
        "amount",
        "currency",
        "walletBalance",
        "walletCurrency",
        "success",
        "amountPaid",
        "balanceDue",
        "status",
        "paymentId",
    ],
}


def _messages(status: int) -> list[str]:
    return sorted({cls.message for cls, code in rest.STATUS.items() if code == status})


def openapi_document() -> dict[str, Any]:
    replayed = {
        "Idempotent-Replayed": {
            "schema": {"type": "string", "const": "true"},
            "description": "Present when an Idempotency-Key replays an earlier outcome.",
        }
    }
    operation = {
        "operationId": "pay-invoice-from-wallet",
        "summary": "Pay Invoice From Wallet",
        "description": "Pays an invoice using wallet balance (the same service as the "
        "GraphQL payInvoice mutation).",
        "security": [{"bearer": []}],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "Repeat with the same key and body: the first outcome again, "
                "no money moved. Other body, same key: 409.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _REQUEST}},
        },
        "responses": {
            "200": {
                "description": "Paid (or replayed).",
                "content": {"application/json": {"schema": _SUCCESS}},
                "headers": {**_REQUEST_ID, **_RATE_HEADERS, **replayed},
            },
            "400": _error(
                "The payment cannot be made as asked.",
                rest.MISSING_PARAMETERS,
                *_messages(400),
                headers=_RATE_HEADERS,
            ),
            "401": _error("Token missing, invalid, expired or revoked.", rest.UNAUTHORIZED),
            "403": _error("Blocked IP, suspended customer or another tenant.", ACCESS_DENIED),
            "404": _error("User, currency or invoice not found.", *_messages(404)),
            "409": _error("Idempotency key reused with another body.", *_messages(409)),
            "413": _error("Body over 64 KiB.", rest.TOO_LARGE),
            "429": _error(
                "Rate limit reached.",
                TOO_MANY_REQUESTS,
                headers={
                    **_RATE_HEADERS,
                    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."},
                },
            ),
            "500": {
                "description": "Unexpected failure; nothing internal is shown.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string", "const": UNEXPECTED_ERROR},
                                "requestId": {"type": "string"},
                            },
                            "required": ["message", "requestId"],
                        }
                    }
                },
                "headers": _REQUEST_ID,
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "invoicepay REST", "version": "1.0.0"},
        "paths": {rest.PATH: {"post": operation}},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
    }
