"""The dashboard lists: `customers`, `customer(id)` and `payments`, newest first, keyset
paginated, bounded per page, and showing nothing across customers or tenants."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert, text, update
from sqlmodel import col

from app.api.graphql.lists import encode_position
from app.billing import admin
from app.db.engine import Database
from app.db.models import Customer, Invoice, LedgerEntry, Payment, Wallet, new_id, utcnow
from app.db.uow import UnitOfWork
from app.ledger.entries import payment_entries
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    World,
    client_for,
    counting_statements,
    error_codes,
    gql,
    make_world,
)
from tests.support.figures import report
from tests.support.pages import every_page

PAYMENTS = """
query Payments($first: Int, $after: String, $customerId: ID, $invoiceNumber: Int) {
  payments(first: $first, after: $after, customerId: $customerId, invoiceNumber: $invoiceNumber) {
    edges { cursor node { id createdAt amount { amount currency } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
PAYMENTS_IN_DETAIL = """
query Payments($first: Int) {
  payments(first: $first) {
    edges { node {
      id amount { amount }
      invoice { number customer { id name wallets { currency } } }
      wallet { id balance { amount } }
    } }
  }
}
"""
CUSTOMERS = """
query Customers($first: Int, $after: String) {
  customers(first: $first, after: $after) {
    edges { cursor node { id name createdAt wallets { currency } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
CUSTOMER = "query Customer($id: ID!) { customer(id: $id) { id name email } }"

CENT = 100  # each bulk payment is 1.00 NGN
PER_INVOICE = 10


@dataclass(frozen=True)
class Row:
    id: str
    created_at: datetime


async def insert_payments(
    db: Database,
    tenant_id: str,
    customer_id: str,
    count: int,
    *,
    first_number: int,
    start: datetime,
    seed: int = 7,
    per_invoice: int = PER_INVOICE,
) -> list[Row]:
    """`count` payments of 1.00 NGN from the customer's NGN wallet, `per_invoice` to each of
    new invoices numbered from `first_number`, written as the service writes them (invoice
    amounts, ledger entries, wallet balance) in a few multi-row statements, in shuffled
    order, after a top-up that funds them. Two payments share each second: the id breaks
    the tie."""
    await admin.top_up_wallet(db, tenant_id, customer_id, "NGN", Decimal(count * CENT) / 100)
    async with UnitOfWork(db) as uow:
        wallet = await uow.wallets.get(customer_id, "NGN")
    assert wallet is not None
    invoices: list[dict[str, Any]] = []
    payments: list[Payment] = []
    entries: list[LedgerEntry] = []
    for i in range(count):
        if i % per_invoice == 0:
            paid = min(per_invoice, count - i) * CENT
            invoices.append(
                {
                    "id": new_id("inv"),
                    "tenant_id": tenant_id,
                    "number": first_number + i // per_invoice,
                    "customer_id": customer_id,
                    "currency": "NGN",
                    "total": 10 * per_invoice * CENT,
                    "amount_paid": paid,
                    "discount_applied": 0,
                    "status": "PARTIALLY_PAID",
                    "created_at": start,
                }
            )
        payment = Payment(
            id=new_id("pay"),
            tenant_id=tenant_id,
            invoice_id=invoices[-1]["id"],
            customer_id=customer_id,
            wallet_id=wallet.id,
            currency="NGN",
            amount=CENT,
            wallet_currency="NGN",
            wallet_debit=CENT,
            exchange_rate="1",
            created_at=start + timedelta(seconds=i // 2),
        )
        wallet.balance -= CENT
        payments.append(payment)
        entries += payment_entries(payment, wallet, payment.created_at)
    shuffled = list(payments)
    random.Random(seed).shuffle(shuffled)
    async with db.engine.begin() as connection:
        await connection.execute(insert(Invoice), invoices)
        await connection.execute(insert(Payment), [p.model_dump() for p in shuffled])
        # In order: each wallet entry's balance_after is the running sum by id.
        await connection.execute(
            insert(LedgerEntry), [e.model_dump(exclude={"id"}) for e in entries]
        )
        await connection.execute(
            update(Wallet).where(col(Wallet.id) == wallet.id).values(balance=wallet.balance)
        )
    return [Row(p.id, p.created_at) for p in payments]


async def insert_customers(
    db: Database, tenant_id: str, count: int, *, start: datetime
) -> list[Row]:
    """`count` customers, three created at each second, inserted in shuffled order."""
    made = [Row(new_id("cus"), start + timedelta(seconds=i // 3)) for i in range(count)]
    rows = [
        {
            "id": row.id,
            "tenant_id": tenant_id,
            "name": f"Customer {i}",
            "email": f"customer{i}@{tenant_id}.example.com",
            "status": "ACTIVE",
            "created_at": row.created_at,
        }
        for i, row in enumerate(made)
    ]
    random.Random(11).shuffle(rows)
    async with db.engine.begin() as connection:
        await connection.execute(insert(Customer), rows)
    return made


def newest_first(rows: list[Row]) -> list[str]:
    return [row.id for row in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]


async def page_through(
    db: Database,
    client: httpx.AsyncClient,
    field: str,
    token: str,
    **variables: Any,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page of `field` (100 at a time) following endCursor, and each page's statements."""
    document = PAYMENTS if field == "payments" else CUSTOMERS
    return await every_page(db, client, document, field, token, **variables)


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for page in pages for edge in page["edges"]]


@dataclass
class Scene:
    world: World
    ada: list[Row]
    bola: list[Row]
    stranger: list[Row]


async def given_payments(
    db: Database, ada: int = 1000, bola: int = 30, per_invoice: int = PER_INVOICE
) -> Scene:
    """Ada's `ada` payments (invoices 10000…), Bola's `bola` (50000…) made in between
    hers, and the other tenant's customer's 20 (same numbers as Ada's)."""
    world = await make_world(db)
    start = utcnow() - timedelta(days=30)
    return Scene(
        world,
        ada=await insert_payments(
            db,
            DEMO_CLONE,
            world.ada,
            ada,
            first_number=10_000,
            start=start,
            per_invoice=per_invoice,
        ),
        bola=await insert_payments(
            db, DEMO_CLONE, world.bola, bola, first_number=50_000, start=start, seed=8
        ),
        stranger=await insert_payments(
            db, OTHER_CLONE, world.stranger, 20, first_number=10_000, start=start, seed=9
        ),
    )


# --- payments ------------------------------------------------------------------------------


async def test_an_admin_pages_through_its_tenants_payments_newest_first_each_once(
    db: Database,
) -> None:
    # given 1030 payments in the demo tenant (two at each second) and 20 in the other
    scene = await given_payments(db)
    async with client_for(db) as client:
        # when the demo admin pages through them 100 at a time, following endCursor
        pages, statements = await page_through(db, client, "payments", scene.world.admin_token)
    # then every payment of its tenant comes once, newest first (ties by id), no other
    assert ids(pages) == newest_first(scene.ada + scene.bola)
    assert [len(page["edges"]) for page in pages] == [100] * 10 + [30]
    created = [edge["node"]["createdAt"] for page in pages for edge in page["edges"]]
    assert created == sorted(created, reverse=True)
    # and the page infos chain: more after all but the last, something before all but the first
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True] * 10 + [False]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False] + [True] * 10
    for page in pages:
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    # and each page costs the same few statements, the last as cheap as the first
    assert len(set(statements)) == 1 and statements[0] <= 3, statements


async def test_a_customer_token_lists_its_own_payments_only(db: Database) -> None:
    # given Ada's, Bola's and the other tenant's payments
    scene = await given_payments(db, ada=150)
    async with client_for(db) as client:
        # when each customer pages through `payments`
        ada, _ = await page_through(db, client, "payments", scene.world.ada_token)
        bola, _ = await page_through(db, client, "payments", scene.world.bola_token)
        stranger, _ = await page_through(db, client, "payments", scene.world.stranger_token)
        # and Bola names himself, Ada, and a customer that does not exist
        himself = await gql(
            client, PAYMENTS, {"customerId": scene.world.bola}, scene.world.bola_token
        )
        others = [
            await gql(client, PAYMENTS, {"customerId": who}, scene.world.bola_token)
            for who in (scene.world.ada, scene.world.stranger, f"cus_{'0' * 24}", "")
        ]
    # then each sees its own, newest first
    assert ids(ada) == newest_first(scene.ada)
    assert ids(bola) == newest_first(scene.bola)
    assert ids(stranger) == newest_first(scene.stranger)
    assert ids([himself["data"]["payments"]]) == newest_first(scene.bola)[:20]
    # and anyone else is an empty page, exactly as a customer that does not exist
    empty = {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, **_no_cursors()},
    }
    for result in others:
        assert result["data"]["payments"] == empty, result


def _no_cursors() -> dict[str, None]:
    return {"startCursor": None, "endCursor": None}


async def test_an_admin_filters_payments_by_customer_and_invoice_number(db: Database) -> None:
    # given Ada's, Bola's and the other tenant's payments
    scene = await given_payments(db, ada=150)
    admin = scene.world.admin_token
    async with client_for(db) as client:
        # when the admin asks for one customer's, one invoice's, and both at once
        by_bola, _ = await page_through(db, client, "payments", admin, customerId=scene.world.bola)
        by_invoice, _ = await page_through(db, client, "payments", admin, invoiceNumber=10_003)
        both = await gql(
            client,
            PAYMENTS,
            {"customerId": scene.world.ada, "invoiceNumber": 10_003},
            admin,
        )
        mismatched = await gql(
            client,
            PAYMENTS,
            {"customerId": scene.world.bola, "invoiceNumber": 10_003},
            admin,
        )
        # and names what belongs to the other tenant, or to nobody
        elsewhere = [
            await gql(client, PAYMENTS, variables, admin)
            for variables in (
                {"customerId": scene.world.stranger},
                {"invoiceNumber": 99_999},
                {"customerId": f"cus_{'0' * 24}"},
            )
        ]
        # and the other tenant's admin asks for Ada's invoice number (its own has it too)
        other_admin = await gql(
            client, PAYMENTS, {"invoiceNumber": 10_000}, scene.world.other_admin_token
        )
    # then each filter holds on every page, newest first
    assert ids(by_bola) == newest_first(scene.bola)
    ada_invoice = newest_first(scene.ada[30:40])  # invoice 10003 has Ada's 31st to 40th
    assert ids(by_invoice) == ada_invoice
    assert ids([both["data"]["payments"]]) == ada_invoice
    assert mismatched["data"]["payments"]["edges"] == []
    # and nothing of another tenant's, or of nobody, is found
    for result in elsewhere:
        assert result["data"]["payments"]["edges"] == [], result
    assert ids([other_admin["data"]["payments"]]) == newest_first(scene.stranger[:10])


async def test_statements_per_page_do_not_grow_with_the_table(db: Database) -> None:
    # given 10 payments, read with their invoices, customers, wallets
    scene = await given_payments(db, ada=10)
    async with client_for(db) as client:
        with counting_statements(db) as few_sent:
            few = await gql(client, PAYMENTS_IN_DETAIL, {"first": 100}, scene.world.admin_token)
        # when there are 1000 more
        await insert_payments(
            db,
            DEMO_CLONE,
            scene.world.ada,
            1000,
            first_number=30_000,
            start=utcnow() - timedelta(days=60),
        )
        with counting_statements(db) as many_sent:
            many = await gql(client, PAYMENTS_IN_DETAIL, {"first": 100}, scene.world.admin_token)
        with counting_statements(db) as customers_few_sent:
            await gql(client, CUSTOMERS, {"first": 100}, scene.world.admin_token)
        await insert_customers(db, DEMO_CLONE, 1000, start=utcnow() - timedelta(days=60))
        with counting_statements(db) as customers_many_sent:
            customers = await gql(client, CUSTOMERS, {"first": 100}, scene.world.admin_token)
    # then a page of 40 and a page of 100 take the same statements, nested fields included
    assert len(few["data"]["payments"]["edges"]) == 40
    edges = many["data"]["payments"]["edges"]
    assert len(edges) == 100
    assert {edge["node"]["invoice"]["customer"]["name"] for edge in edges} >= {"Ada Obi"}
    assert len(many_sent) == len(few_sent) <= 6, many_sent
    assert len(customers["data"]["customers"]["edges"]) == 100
    assert len(customers_many_sent) == len(customers_few_sent) <= 4, customers_many_sent
    report(
        "dashboard lists, statements per page",
        f"payments with invoice, customer, wallet: {len(many_sent)} (40 or 100 rows);"
        f" customers with wallets: {len(customers_many_sent)}",
    )


# --- customers -----------------------------------------------------------------------------


async def test_an_admin_pages_through_its_tenants_customers_newest_first(db: Database) -> None:
    # given 250 more customers in the demo tenant (three at each second), 40 in the other
    world = await make_world(db)
    start = utcnow() - timedelta(days=3)
    demo = await insert_customers(db, DEMO_CLONE, 250, start=start)
    other = await insert_customers(db, OTHER_CLONE, 40, start=start)
    async with client_for(db) as client:
        # when each admin pages through its customers
        pages, statements = await page_through(db, client, "customers", world.admin_token)
        other_pages, _ = await page_through(db, client, "customers", world.other_admin_token)
    # then each gets its own tenant's, once each, newest first: Ada and Bola (made now) lead
    assert ids(pages)[2:] == newest_first(demo)
    assert set(ids(pages)[:2]) == {world.ada, world.bola}
    assert [len(page["edges"]) for page in pages] == [100, 100, 52]
    assert ids(other_pages)[1:] == newest_first(other)
    assert ids(other_pages)[0] == world.stranger
    assert len(set(statements)) == 1, statements


async def test_customers_is_for_admins_only(db: Database) -> None:
    # given customers in both tenants
    world = await make_world(db)
    async with client_for(db) as client:
        # when a customer token asks for the customer list
        results = [
            await gql(client, CUSTOMERS, {}, token)
            for token in (world.ada_token, world.stranger_token)
        ]
    # then it is FORBIDDEN, and nothing is listed
    for result in results:
        assert error_codes(result) == ["FORBIDDEN"], result
        assert result["data"] is None


async def test_customer_by_id_is_the_tenants_for_an_admin_and_itself_for_a_customer(
    db: Database,
) -> None:
    world = await make_world(db)
    missing = f"cus_{'0' * 24}"
    async with client_for(db) as client:

        async def name(token: str, customer_id: str) -> str | None:
            result = await gql(client, CUSTOMER, {"id": customer_id}, token)
            assert "errors" not in result, result
            found = result["data"]["customer"]
            return None if found is None else str(found["name"])

        # then an admin finds its tenant's customers, never another tenant's
        assert await name(world.admin_token, world.bola) == "Bola Ade"
        assert await name(world.admin_token, world.stranger) is None
        assert await name(world.other_admin_token, world.ada) is None
        assert await name(world.other_admin_token, world.stranger) == "Sam Other"
        # and a customer finds itself only: anyone else is null, exactly like a missing id
        assert await name(world.ada_token, world.ada) == "Ada Obi"
        assert await name(world.ada_token, world.bola) is None
        assert await name(world.ada_token, world.stranger) is None
        for token in (world.admin_token, world.ada_token):
            assert await name(token, missing) is None
            assert await name(token, "pay_123") is None


# --- bad page arguments --------------------------------------------------------------------


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize("first", [101, 1000, -1])
async def test_first_out_of_range_is_bad_user_input(db: Database, first: int) -> None:
    world = await make_world(db)
    async with client_for(db) as client:
        payments = await gql(client, PAYMENTS, {"first": first}, world.ada_token)
        customers = await gql(client, CUSTOMERS, {"first": first}, world.admin_token)
    # then each is refused exactly as `invoices` refuses it
    for result in (payments, customers):
        assert result["data"] is None
        assert error_codes(result) == ["BAD_USER_INPUT"], result
        assert result["errors"][0]["message"] == "first must be between 0 and 100"


@pytest.mark.parametrize(
    ("field", "after"),
    [
        ("payments", "garbage"),
        ("payments", ""),
        ("payments", cursor("inv:5")),  # an invoice cursor
        ("payments", cursor("cus:1:cus_abc")),  # a customer cursor
        ("payments", cursor("pay:1")),
        ("payments", cursor("pay:-1:pay_abc")),
        ("payments", cursor("pay:²:pay_abc")),
        ("payments", cursor("pay:1:pay_abc:x")),
        ("payments", cursor("pay:1:pay\x00abc")),
        ("payments", cursor("pay:1:")),
        ("payments", cursor("pay:9999999999999999999:pay_abc")),  # beyond year 9999
        ("customers", cursor("pay:1:pay_abc")),
        ("customers", cursor("cus:1:" + "c" * 41)),
        ("customers", base64.urlsafe_b64encode(b"cus:\xff:x").decode()),
    ],
)
async def test_a_garbage_or_wrong_kind_cursor_is_bad_user_input(
    db: Database, field: str, after: str
) -> None:
    world = await make_world(db)
    document = PAYMENTS if field == "payments" else CUSTOMERS
    async with client_for(db) as client:
        result = await gql(client, document, {"first": 10, "after": after}, world.admin_token)
    assert result["data"] is None
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    assert result["errors"][0]["message"] == "Invalid cursor"


async def test_first_zero_and_a_cursor_past_the_oldest(db: Database) -> None:
    scene = await given_payments(db, ada=5)
    oldest = min(scene.ada + scene.bola, key=lambda r: (r.created_at, r.id))
    async with client_for(db) as client:
        zero = await gql(client, PAYMENTS, {"first": 0}, scene.world.admin_token)
        past = await gql(
            client,
            PAYMENTS,
            {"after": encode_position("pay", oldest.created_at, oldest.id)},
            scene.world.admin_token,
        )
    assert zero["data"]["payments"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": True, "hasPreviousPage": False, **_no_cursors()},
    }
    assert past["data"]["payments"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": True, **_no_cursors()},
    }


# --- PostgreSQL plans --------------------------------------------------------------------------


@contextmanager
def capturing(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Each statement sent while the block runs, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool
    ) -> None:
        sent.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def test_each_page_is_a_bounded_index_range_scan_over_20000_payments(
    postgres_db: Database,
) -> None:
    # given 20,000 payments of Ada (1,000 to each of her invoices), 2,000 of Bola's (during
    # her first 1,000), and 2,000 customers, the statistics fresh
    db = postgres_db
    scene = await given_payments(db, ada=20_000, bola=2000, per_invoice=1000)
    await insert_customers(db, DEMO_CLONE, 2000, start=utcnow() - timedelta(days=3))
    async with db.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    middle = sorted(scene.ada, key=lambda r: (r.created_at, r.id))[10_000]
    deep = encode_position("pay", middle.created_at, middle.id)
    asks: dict[str, tuple[str, dict[str, Any], str]] = {
        "tenant": ("payments", {}, "ix_payments_tenant_created"),
        "tenant, deep": ("payments", {"after": deep}, "ix_payments_tenant_created"),
        "customer": ("payments", {"customerId": scene.world.bola}, "ix_payments_customer_created"),
        "invoice": ("payments", {"invoiceNumber": 10_005}, "ix_payments_invoice_created"),
        "customers": ("customers", {}, "ix_customers_tenant_created"),
    }
    async with client_for(db) as client:
        for name, (field, variables, index) in asks.items():
            document = PAYMENTS if field == "payments" else CUSTOMERS
            # when a page of 20 is asked for, its statement captured
            with capturing(db) as sent:
                result = await gql(
                    client, document, {"first": 20, **variables}, scene.world.admin_token
                )
            assert "errors" not in result, result
            assert result["data"][field]["edges"], name
            (statement, params), *_ = [s for s in sent if f"FROM {field}" in s[0]]
            async with db.engine.connect() as connection:
                explained = await connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params
                )
                raw = explained.scalar_one()
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            shown = (name, json.dumps(plan, indent=1))
            # then it is a limit over one index scan of the right index, reading at most
            # the page and one more row, never sorting
            assert plan["Node Type"] == "Limit", shown
            scans = [n for n in nodes(plan) if n.get("Relation Name") == field]
            assert [n["Node Type"] for n in scans] == ["Index Scan"], shown
            assert scans[0]["Index Name"] == index, shown
            assert scans[0]["Actual Rows"] <= 21, shown
            assert scans[0].get("Rows Removed by Filter", 0) == 0, shown
            assert not [n for n in nodes(plan) if n["Node Type"] == "Sort"], shown
    report(
        "dashboard lists on PostgreSQL",
        "20,000 payments, 2,000 customers: each page of 20 (tenant, deep cursor, customer,"
        " invoice, customers) is one Limit over an Index Scan reading at most 21 rows",
    )
