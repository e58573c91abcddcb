"""The OpenAPI 3.1 document of the REST route, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from app.api.rest import route as rest
from app.api.rest.body import request_schema
from app.db.unavailable import SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_CODE
from app.http.guard import ACCESS_DENIED
from app.http.ratelimit import TOO_MANY_REQUESTS
from app.http.request_context import UNEXPECTED_ERROR

OPENAPI_PATH = "/api/v1/openapi.json"

_AMOUNT = {"type": "number", "description": "Major units, exact (never rounded through a float)."}
_RATE_HEADERS = {
    "RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Attempts per window."},
    "RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Attempts left."},
    "RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Seconds until room."},
}
_REQUEST_ID = {
    "X-Request-ID": {
        "schema": {"type": "string"},
        "required": True,
        "description": "This request's id; the server log has everything under it.",
    }
}
_ERROR_CODE = {
    "schema": {"type": "string", "pattern": "^[A-Z_]+$"},
    "description": "The machine code of the failure (e.g. INSUFFICIENT_FUNDS).",
}
_REPLAYED = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "const": "true"},
        "description": "Present when an Idempotency-Key replays an earlier outcome.",
    }
}


_PARAM = {
    "param": {
        "type": "string",
        "description": "With `Missing One or More Required Parameters`: the field missing, "
        "mistyped, unknown or repeated, as a path (e.g. "
        "`partPaymentFromWalletBalance.chargeTotalCurrent`), or `body`.",
    }
}


def _message(*messages: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"message": {"type": "string", "enum": list(messages)}, **more},
        "required": ["message"],
    }


def _error(
    description: str,
    *messages: str,
    headers: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
) -> Any:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _message(*messages, **(properties or {}))}},
        "headers": {
            **_REQUEST_ID,
            "X-Error-Code": {**_ERROR_CODE, "required": True},
            **(headers or {}),
        },
    }
    return response


_REQUEST = request_schema()
_REQUEST_EXAMPLE = rest.SEED_EXAMPLE
_SUCCESS_EXAMPLE = {
    "message": rest.SUCCESS,
    "invoiceNo": 100123,
    "amount": 15000,
    "currency": "NGN",
    "walletBalance": 45000,
    "walletCurrency": "NGN",
    "success": True,
    "amountPaid": 5000,
    "balanceDue": 10000,
    "status": "partially_paid",
    "paymentId": "pay_8f2c0a5d9e3b4c1f",
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
                "schema": {"type": "string", "maxLength": 200, "pattern": "\\S"},
                "description": "Repeat with the same key and body: the first outcome again, "
                "no money moved. Other body, same key: 409.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _REQUEST, "example": _REQUEST_EXAMPLE}},
        },
        "responses": {
            "200": {
                "description": "Paid (or replayed).",
                "content": {"application/json": {"schema": _SUCCESS, "example": _SUCCESS_EXAMPLE}},
                "headers": {**_REQUEST_ID, **_RATE_HEADERS, **_REPLAYED},
            },
            "400": _error(
                "A parameter missing, mistyped, unknown or repeated (malformed JSON "
                "included; `param` names it), or the payment cannot be made as asked.",
                rest.MISSING_PARAMETERS,
                *_messages(400),
                headers={**_RATE_HEADERS, **_REPLAYED},
                properties=_PARAM,
            ),
            "401": _error(
                "Token missing, invalid, expired or revoked.",
                rest.UNAUTHORIZED,
                headers={
                    "WWW-Authenticate": {
                        "schema": {"type": "string", "const": "Bearer"},
                        "required": True,
                    }
                },
            ),
            "403": _error(
                "Blocked IP, suspended customer or another tenant.",
                ACCESS_DENIED,
            ),
            "404": _error(
                "User, currency or invoice not found.",
                *_messages(404),
                headers={**_RATE_HEADERS, **_REPLAYED},
            ),
            "409": _error(
                "Idempotency key reused with another body.", *_messages(409), headers=_RATE_HEADERS
            ),
            "413": _error("Body over 64 KiB.", rest.TOO_LARGE, headers=_RATE_HEADERS),
            "429": _error(
                "Rate limit reached.",
                TOO_MANY_REQUESTS,
                headers={
                    **_RATE_HEADERS,
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "required": True,
                        "description": "Seconds.",
                    },
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
                "headers": {**_REQUEST_ID, "X-Error-Code": {**_ERROR_CODE, "required": True}},
            },
            "503": {
                "description": "The database (or the rate-limit store) cannot serve now; "
                "nothing was paid. Retry after `Retry-After` seconds, with the same "
                "Idempotency-Key.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string", "const": SERVICE_UNAVAILABLE},
                                "requestId": {"type": "string"},
                            },
                            "required": ["message", "requestId"],
                        }
                    }
                },
                "headers": {
                    **_REQUEST_ID,
                    "X-Error-Code": {
                        "schema": {"type": "string", "const": SERVICE_UNAVAILABLE_CODE},
                        "required": True,
                    },
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "required": True,
                        "description": "Seconds.",
                    },
                },
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
