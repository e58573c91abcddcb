"""The floor (row f of `make bench`): the least code that moves the money of one payment.

A hand-written Starlette app over a raw asyncpg pool, no auth, no GraphQL, no idempotency,
no retry loop. `POST /floor/pay` with {"customer": id, "invoice": number, "currency": code,
"amount": minor units, "reference": text} does in ONE transaction what the service does for
a partial payment of an invoice in its wallet's currency: lock the wallet, lock the
invoice, debit the one, settle the other, insert the payment and its ledger legs, with the
same columns and values as `app.payments.pg_store` writes (so `ledger verify` and the
bench's audit hold). Each statement is prepared once per connection (asyncpg's statement
cache). Whatever the app
spends beyond this is overhead the bench can show as c/f and d/f.

    FLOOR_DATABASE_URL=postgresql://… FLOOR_TENANT=… python -m bench.floor --port 8001

Answers: 200 {"payment", "invoice", "amount", "walletBalance", "status"}; 400 a body it
cannot read; 404 no such invoice or wallet of the customer's; 409 the invoice is not open,
the amount exceeds what is due, or the wallet holds too little. Nothing is written then.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db.engine import PG_SERVER_SETTINGS, pg_dsn
from app.db.models import new_id
from app.ledger.entries import payment_legs
from app.payments.rules import status_after
from bench.workload import FLOOR_PATH

READY_PATH = "/floor/ready"
POOL_SIZE = 20  # as the app's hot path: Database() keeps up to twice its pool_size of 10
SAME_CURRENCY_RATE = "1"  # `Plan.exchange_rate` of a payment in the wallet's own currency
OPEN = ("UNPAID", "PARTIALLY_PAID")
MAX_MINOR = 10**15  # far above any seeded balance; keeps a hostile amount out of bigint
MAX_REFERENCE = 200  # the payments.reference column

# The wallet first, then the invoice: the service's lock order, so no deadlock between them.
LOCK_WALLET = """
SELECT id, balance FROM wallets
WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3
FOR UPDATE
"""
LOCK_INVOICE = """
SELECT id, total, amount_paid, discount_applied, status FROM invoices
WHERE tenant_id = $1 AND number = $2 AND customer_id = $3 AND currency = $4
FOR UPDATE
"""
DEBIT_WALLET = "UPDATE wallets SET balance = balance - $2 WHERE id = $1 RETURNING balance"
SETTLE_INVOICE = "UPDATE invoices SET amount_paid = amount_paid + $2, status = $3 WHERE id = $1"
INSERT_PAYMENT = """
INSERT INTO payments (id, tenant_id, invoice_id, customer_id, wallet_id, currency, amount,
    wallet_currency, wallet_debit, exchange_rate, discount, reference, memo, accounting_code,
    idempotency_key, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7, $8, 0, $9, NULL, NULL, NULL, $10)
"""
# The legs in order (the wallet's own first), as the pay statement writes them.
INSERT_ENTRIES = """
INSERT INTO ledger_entries (tenant_id, transaction_id, kind, account, wallet_id, payment_id,
    currency, amount, balance_after, reference, created_at)
SELECT $1, $2, 'PAYMENT', e.account, e.wallet_id, $3, e.currency, e.amount,
    CASE WHEN e.wallet_id IS NOT NULL THEN $4::bigint END, $5, $6
FROM unnest($7::text[], $8::text[], $9::bigint[], $10::text[]) WITH ORDINALITY
    AS e (account, currency, amount, wallet_id, position)
ORDER BY e.position
"""


@dataclass(frozen=True)
class Config:
    database_url: str  # SQLAlchemy or libpq form
    tenant: str


@dataclass(frozen=True)
class Payment:
    customer: str
    invoice: int
    currency: str
    amount: int
    reference: str


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_payment(body: bytes) -> Payment:
    """The request body, or Refused(400) naming what is wrong with it."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(400, "BAD_REQUEST", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "BAD_REQUEST", "the body is not a JSON object")
    customer, invoice = data.get("customer"), data.get("invoice")
    currency, amount = data.get("currency"), data.get("amount")
    if not isinstance(customer, str) or not customer:
        raise Refused(400, "BAD_REQUEST", "customer: a customer id")
    if type(invoice) is not int or invoice <= 0:
        raise Refused(400, "BAD_REQUEST", "invoice: a positive invoice number")
    if not isinstance(currency, str) or len(currency) != 3:
        raise Refused(400, "BAD_REQUEST", "currency: a three-letter code")
    if type(amount) is not int or not 0 < amount <= MAX_MINOR:
        raise Refused(400, "BAD_REQUEST", "amount: a positive whole number of minor units")
    reference = data.get("reference")
    if not isinstance(reference, str) or not 0 < len(reference) <= MAX_REFERENCE:
        raise Refused(400, "BAD_REQUEST", f"reference: text of 1 to {MAX_REFERENCE} characters")
    return Payment(customer, invoice, currency, amount, reference)


async def pay(connection: asyncpg.Connection, config: Config, payment: Payment) -> dict[str, Any]:
    """The payment's one transaction; Refused (nothing written) when it may not happen."""
    tenant, amount = config.tenant, payment.amount
    async with connection.transaction():
        # Locked before reading its balance: a concurrent debit waits, never double-spends.
        wallet = await connection.fetchrow(LOCK_WALLET, tenant, payment.customer, payment.currency)
        if wallet is None:
            raise Refused(404, "WALLET_NOT_FOUND", f"no {payment.currency} wallet")
        invoice = await connection.fetchrow(
            LOCK_INVOICE, tenant, payment.invoice, payment.customer, payment.currency
        )
        if invoice is None:
            raise Refused(404, "INVOICE_NOT_FOUND", f"no invoice {payment.invoice}")
        due = invoice["total"] - invoice["amount_paid"] - invoice["discount_applied"]
        if invoice["status"] not in OPEN:
            raise Refused(409, "INVOICE_ALREADY_PAID", f"invoice {payment.invoice} is not open")
        if amount > due:
            raise Refused(409, "WRONG_AMOUNT", f"{amount} exceeds the {due} due")
        if amount > wallet["balance"]:
            raise Refused(409, "INSUFFICIENT_FUNDS", "the wallet holds too little")
        status = status_after(amount == due)
        now = datetime.now(UTC)
        payment_id = new_id("pay")
        balance = await connection.fetchval(DEBIT_WALLET, wallet["id"], amount)
        await connection.execute(SETTLE_INVOICE, invoice["id"], amount, status)
        await connection.execute(
            INSERT_PAYMENT,
            payment_id,
            tenant,
            invoice["id"],
            payment.customer,
            wallet["id"],
            payment.currency,
            amount,
            SAME_CURRENCY_RATE,
            payment.reference,
            now,
        )
        legs = payment_legs(wallet["id"], payment.currency, amount, payment.currency, amount)
        await connection.execute(
            INSERT_ENTRIES,
            tenant,
            new_id("txn"),
            payment_id,
            balance,
            payment.reference,
            now,
            [leg.account for leg in legs],
            [leg.currency for leg in legs],
            [leg.amount for leg in legs],
            [leg.wallet_id for leg in legs],
        )
    return {
        "payment": payment_id,
        "invoice": payment.invoice,
        "amount": amount,
        "walletBalance": balance,
        "status": status,
    }


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def create_app(config: Config | None = None) -> Starlette:
    """The floor's ASGI app; `config` from the environment (FLOOR_*) when not given."""
    config = config or config_from_env()
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            pg_dsn(config.database_url),
            min_size=0,
            max_size=POOL_SIZE,
            server_settings=PG_SERVER_SETTINGS,
        )
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    async def pay_route(request: Request) -> Response:
        try:
            payment = parse_payment(await request.body())
            async with pools[0].acquire() as connection:
                return _json(200, await pay(connection, config, payment))
        except Refused as refused:
            return _json(
                refused.status, {"error": {"code": refused.code, "message": refused.message}}
            )

    async def ready(_request: Request) -> Response:
        return _json(200, {"ready": bool(pools)})

    return Starlette(
        routes=[Route(FLOOR_PATH, pay_route, methods=["POST"]), Route(READY_PATH, ready)],
        lifespan=lifespan,
    )


def config_from_env() -> Config:
    try:
        return Config(
            database_url=os.environ["FLOOR_DATABASE_URL"],
            tenant=os.environ["FLOOR_TENANT"],
        )
    except KeyError as missing:
        raise SystemExit(f"bench.floor: set {missing.args[0]}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    config_from_env()  # a missing setting stops here, not in each worker
    # As `invoicepay serve` in production serves the app: uvloop, httptools, no access log.
    uvicorn.run(
        "bench.floor:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
