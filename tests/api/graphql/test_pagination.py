"""Keyset pagination of `invoices` over 1000 rows, and refusal of bad page arguments."""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from app.db.engine import Database
from app.db.models import Invoice, new_id, utcnow
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    client_for,
    error_codes,
    gql,
    make_world,
)
from tests.support.pages import every_page

INVOICES = """
query Invoices($status: InvoiceStatus, $first: Int, $after: String) {
  invoices(status: $status, first: $first, after: $after) {
    edges { cursor node { number status } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

TRANSACTIONS = """
query Transactions($first: Int, $after: String) {
  wallet(currency: "NGN") {
    transactions(first: $first, after: $after) { edges { cursor } }
  }
}
"""

ADA_INVOICES = 1000
# Ada's invoice numbers: spread out, with gaps, inserted in shuffled order.
ADA_NUMBERS = [10_000 + 3 * i for i in range(ADA_INVOICES)]


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def given_many_invoices(db: Database) -> dict[str, str]:
    """Ada: 1000 invoices (every fourth VOID); Bola: 50; the other tenant: 50.
    Inserted in one statement per batch: what is under test is reading them."""
    world = await make_world(db)
    now = utcnow()

    def row(tenant: str, customer: str, number: int, status: str) -> dict[str, Any]:
        return {
            "id": new_id("inv"),
            "tenant_id": tenant,
            "number": number,
            "customer_id": customer,
            "currency": "NGN",
            "total": 10_000 + number,
            "amount_paid": 0,
            "discount_applied": 0,
            "status": status,
            "created_at": now,
        }

    numbers = list(ADA_NUMBERS)
    random.Random(7).shuffle(numbers)
    rows = [
        row(DEMO_CLONE, world.ada, number, "VOID" if number % 4 == 0 else "UNPAID")
        for number in numbers
    ]
    rows += [row(DEMO_CLONE, world.bola, 10_001 + 3 * i, "UNPAID") for i in range(50)]
    rows += [row(OTHER_CLONE, world.stranger, 10_000 + 3 * i, "UNPAID") for i in range(50)]
    async with db.engine.begin() as connection:
        await connection.execute(insert(Invoice), rows)
    return {
        "ada": world.ada_token,
        "admin": world.admin_token,
        "stranger": world.stranger_token,
    }


async def page_through(
    db: Database,
    client: httpx.AsyncClient,
    token: str,
    status: str | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page of `invoices(first: 100)` following endCursor, and the SQL statements
    each page took."""
    return await every_page(db, client, INVOICES, "invoices", token, status=status)


async def test_paging_through_1000_invoices_returns_each_exactly_once_in_number_order(
    db: Database,
) -> None:
    # given Ada's 1000 invoices among others
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        # when she pages through them 100 at a time, following endCursor
        pages, statements = await page_through(db, client, tokens["ada"])
    # then there are ten full pages holding each of her invoices once, in number order
    assert [len(page["edges"]) for page in pages] == [100] * 10
    numbers = [edge["node"]["number"] for page in pages for edge in page["edges"]]
    assert numbers == ADA_NUMBERS
    # and every page but the last says there is more; only the first has nothing before it
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True] * 9 + [False]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False] + [True] * 9
    for page in pages:
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    # and each page costs the same few SQL statements, the last as cheap as the first
    assert max(statements) <= 5, statements
    assert statements[0] == statements[-1]
    assert len(set(statements[1:])) == 1, statements


async def test_an_admin_pages_through_all_of_its_tenants_invoices_and_no_others(
    db: Database,
) -> None:
    # given 1050 invoices in the demo tenant and 50 in the other
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        # when the demo admin and the other tenant's customer page through theirs
        pages, statements = await page_through(db, client, tokens["admin"])
        stranger_pages, _ = await page_through(db, client, tokens["stranger"])
    # then the admin gets all 1050 of its tenant once each, in order, in 11 pages
    numbers = [edge["node"]["number"] for page in pages for edge in page["edges"]]
    assert len(pages) == 11
    assert numbers == sorted(ADA_NUMBERS + [10_001 + 3 * i for i in range(50)])
    assert max(statements) <= 5, statements
    assert statements[0] == statements[-1]
    # and the other tenant's customer only its own 50
    assert len(stranger_pages) == 1
    assert len(stranger_pages[0]["edges"]) == 50


async def test_the_status_filter_holds_on_every_page(db: Database) -> None:
    # given Ada's 1000 invoices, 250 of them VOID
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        # when she pages through the VOID ones and the UNPAID ones
        void_pages, _ = await page_through(db, client, tokens["ada"], "VOID")
        unpaid_pages, _ = await page_through(db, client, tokens["ada"], "UNPAID")
    # then each page holds only that status, and together exactly those invoices, in order
    voids = [edge["node"] for page in void_pages for edge in page["edges"]]
    unpaid = [edge["node"] for page in unpaid_pages for edge in page["edges"]]
    assert [len(page["edges"]) for page in void_pages] == [100, 100, 50]
    assert {node["status"] for node in voids} == {"VOID"}
    assert [node["number"] for node in voids] == [n for n in ADA_NUMBERS if n % 4 == 0]
    assert len(unpaid_pages) == 8
    assert {node["status"] for node in unpaid} == {"UNPAID"}
    assert [node["number"] for node in unpaid] == [n for n in ADA_NUMBERS if n % 4 != 0]


async def test_first_zero_returns_no_edges(db: Database) -> None:
    # given Ada's invoices
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        # when she asks for the first 0
        result = await gql(client, INVOICES, {"first": 0}, tokens["ada"])
    # then there are no edges and no cursors, but more is announced
    assert result == {
        "data": {
            "invoices": {
                "edges": [],
                "pageInfo": {
                    "hasNextPage": True,
                    "hasPreviousPage": False,
                    "startCursor": None,
                    "endCursor": None,
                },
            }
        }
    }


async def test_without_first_a_page_holds_twenty(db: Database) -> None:
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        result = await gql(client, INVOICES, {}, tokens["ada"])
    edges = result["data"]["invoices"]["edges"]
    assert [edge["node"]["number"] for edge in edges] == ADA_NUMBERS[:20]


@pytest.mark.parametrize("first", [101, 1000, -1, -100])
async def test_first_out_of_range_is_bad_user_input(db: Database, first: int) -> None:
    # given Ada with invoices and a wallet history
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        # when she asks for more than 100 (or a negative number) of either connection
        invoices = await gql(client, INVOICES, {"first": first}, tokens["ada"])
        transactions = await gql(client, TRANSACTIONS, {"first": first}, tokens["ada"])
    # then each is a top-level BAD_USER_INPUT error, never a masked 500
    for result in (invoices, transactions):
        assert result["data"] is None or None in result["data"].values()
        assert error_codes(result) == ["BAD_USER_INPUT"], result
        assert result["errors"][0]["message"] == "first must be between 0 and 100"


@pytest.mark.parametrize(
    "after",
    [
        "garbage",
        "!!!",
        "",
        "aW52OjE",  # base64 without its padding
        cursor("txe:5"),  # a wallet transaction's cursor
        cursor("inv:"),
        cursor("inv:abc"),
        cursor("inv:-1"),
        cursor("inv:1.5"),
        cursor("inv:99999999999999999999"),
        cursor("inv:²"),
        base64.urlsafe_b64encode(b"inv:\xff\xfe").decode(),  # not UTF-8
    ],
)
async def test_a_garbage_or_wrong_kind_cursor_is_bad_user_input(db: Database, after: str) -> None:
    # given Ada with invoices
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        # when she pages after a cursor this connection never issued
        result = await gql(client, INVOICES, {"first": 10, "after": after}, tokens["ada"])
    # then it is a top-level BAD_USER_INPUT error, never a masked 500
    assert result["data"] is None
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    assert result["errors"][0]["message"] == "Invalid cursor"


async def test_an_invoice_cursor_is_refused_by_wallet_transactions(db: Database) -> None:
    # given a cursor of the invoices connection
    tokens = await given_many_invoices(db)
    async with client_for(db) as client:
        page = await gql(client, INVOICES, {"first": 1}, tokens["ada"])
        invoice_cursor = page["data"]["invoices"]["pageInfo"]["endCursor"]
        # when it is used to page wallet transactions
        result = await gql(
            client, TRANSACTIONS, {"first": 1, "after": invoice_cursor}, tokens["ada"]
        )
    # then it is BAD_USER_INPUT
    assert error_codes(result) == ["BAD_USER_INPUT"], result
