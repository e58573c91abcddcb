"""The dashboard lists: `customers` (admins), `customer(id)` and `payments`, newest first.

Keyset pagination on (created_at, id), each page one bounded index range scan
(migration 0003). Another customer's or tenant's rows are answered exactly like
missing ones: `customer(id)` is null, and `payments(customerId:)` naming anyone a
customer token may not see is an empty page, as for a customer that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

import strawberry
from strawberry.types import Info

from app.api.graphql.context import Context, bad_input
from app.api.graphql.types import Customer, PageInfo, Payment, page_info, page_size
from app.db.uow import UnitOfWork

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Ids are `cus_` / `pay_` and 24 hex digits; anything else never reaches a statement.
ROW_ID = re.compile(r"[A-Za-z0-9_]{1,40}")

Position = tuple[datetime, str]


def encode_position(kind: str, created_at: datetime, row_id: str) -> str:
    micros = (created_at - EPOCH) // MICROSECOND
    return base64.urlsafe_b64encode(f"{kind}:{micros}:{row_id}".encode()).decode()


def decode_position(kind: str, cursor: str | None) -> Position | None:
    """The (created_at, id) a cursor of this connection names; BAD_USER_INPUT otherwise."""
    if cursor is None:
        return None
    try:
        prefix, micros, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        valid = micros.isascii() and micros.isdigit() and len(micros) <= 19
        if prefix != kind or not valid or not ROW_ID.fullmatch(row_id):
            raise ValueError(cursor)
        return EPOCH + int(micros) * MICROSECOND, row_id
    except (ValueError, OverflowError, binascii.Error, UnicodeError):
        raise bad_input("Invalid cursor") from None


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo


@strawberry.type
class PaymentEdge:
    cursor: str
    node: Payment


@strawberry.type
class PaymentConnection:
    edges: list[PaymentEdge]
    page_info: PageInfo


async def customers(
    info: Info[Context, None], first: int | None = None, after: str | None = None
) -> CustomerConnection:
    principal = info.context.require_admin()
    size = page_size(first)
    before = decode_position("cus", after)
    async with UnitOfWork(info.context.db) as uow:
        rows = await uow.customers.page(principal.tenant_id, before=before, limit=size + 1)
    edges = [
        CustomerEdge(cursor=encode_position("cus", row.created_at, row.id), node=Customer.of(row))
        for row in rows[:size]
    ]
    return CustomerConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], len(rows) > size, after is not None),
    )


async def customer(info: Info[Context, None], id: strawberry.ID) -> Customer | None:
    info.context.require_principal()
    row = await info.context.loaders.customer.load(str(id))
    return Customer.of(row) if row is not None and info.context.can_see_customer(row) else None


async def payments(
    info: Info[Context, None],
    first: int | None = None,
    after: str | None = None,
    customer_id: strawberry.ID | None = None,
    invoice_number: int | None = None,
) -> PaymentConnection:
    principal = info.context.require_principal()
    size = page_size(first)
    before = decode_position("pay", after)
    owner = None if customer_id is None else str(customer_id)
    if not principal.is_admin:
        # A customer token lists its own payments; naming anyone else finds nothing.
        if principal.customer_id is None or owner not in (None, principal.customer_id):
            return PaymentConnection(edges=[], page_info=page_info([], False, after is not None))
        owner = principal.customer_id
    async with UnitOfWork(info.context.db) as uow:
        rows = await uow.payments.page(
            principal.tenant_id,
            customer_id=owner,
            invoice_number=invoice_number,
            before=before,
            limit=size + 1,
        )
    edges = [
        PaymentEdge(cursor=encode_position("pay", row.created_at, row.id), node=Payment.of(row))
        for row in rows[:size]
    ]
    return PaymentConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], len(rows) > size, after is not None),
    )
