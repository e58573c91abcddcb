"""Reads through GraphQL: viewer, wallets, invoices, payments, node(id), wallet history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.billing import admin
from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    client_for,
    error_codes,
    gql,
    invoice,
    make_payment,
    make_world,
    pay_with,
)
from tests.support.snapshots import counting_statements

VIEWER = """
query {
  viewer {
    __typename id name email status
    wallets { id currency balance { amount currency } }
  }
}
"""

WALLET = """
query Wallet($currency: String!) {
  wallet(currency: $currency) { id currency balance { amount currency } }
}
"""

WALLETS = """
query { wallets { currency balance { amount currency } } }
"""

INVOICE = """
query Invoice($number: Int!) {
  invoice(number: $number) {
    id number status currency
    total { amount currency }
    amountPaid { amount currency }
    discountApplied { amount }
    balanceDue { amount currency }
    dueAt
    customer { id }
    payments { id amount { amount currency } walletDebit { amount currency } exchangeRate }
  }
}
"""

INVOICES = """
query Invoices($status: InvoiceStatus, $first: Int, $after: String) {
  invoices(status: $status, first: $first, after: $after) {
    edges { cursor node { number status } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


PAYMENT = """
query Payment($id: ID!) {
  payment(id: $id) {
    id
    amount { amount currency }
    walletDebit { amount currency }
    exchangeRate
    discount { amount }
    reference memo accountingCode createdAt
    invoice { number balanceDue { amount } }
    wallet { currency balance { amount } }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { name email }
    ... on Wallet { currency balance { amount } }
    ... on Invoice { number balanceDue { amount } }
    ... on Payment { amount { amount } }
  }
}
"""

TRANSACTIONS = """
query Transactions($currency: String!, $first: Int, $after: String) {
  wallet(currency: $currency) {
    transactions(first: $first, after: $after) {
      edges {
        cursor
        node { kind amount { amount } balanceAfter { amount } reference payment { id } }
      }
      pageInfo { hasNextPage hasPreviousPage endCursor }
    }
  }
}
"""

# A page of 60 (cost 6241): 100 would cost 10401, over GRAPHQL_MAX_COST.
INVOICES_IN_DETAIL = """
query {
  invoices(first: 60) {
    edges {
      node {
        number
        customer { id name }
        payments { id amount { amount } wallet { currency } }
      }
    }
  }
}
"""


async def test_viewer_is_the_authenticated_customer_with_its_wallets(db: Database) -> None:
    # given Ada with NGN and USD wallets
    world = await make_world(db)
    async with client_for(db) as client:
        # when she asks who she is
        result = await gql(client, VIEWER, token=world.ada_token)
    # then she sees herself and both her wallets, in currency order
    viewer = result["data"]["viewer"]
    assert viewer["__typename"] == "Customer"
    assert viewer["id"] == world.ada
    assert (viewer["name"], viewer["email"], viewer["status"]) == (
        "Ada Obi",
        "ada@example.com",
        "ACTIVE",
    )
    assert [(w["currency"], w["balance"]) for w in viewer["wallets"]] == [
        ("NGN", {"amount": "50000.00", "currency": "NGN"}),
        ("USD", {"amount": "500.00", "currency": "USD"}),
    ]
    assert all(w["id"].startswith("wal_") for w in viewer["wallets"])


async def test_viewer_is_null_for_an_admin_token(db: Database) -> None:
    # given an admin of the demo tenant
    world = await make_world(db)
    async with client_for(db) as client:
        # when it asks for the viewer
        result = await gql(client, VIEWER, token=world.admin_token)
    # then there is no customer behind the token
    assert result == {"data": {"viewer": None}}


async def test_wallet_by_currency_returns_that_wallet_or_null(db: Database) -> None:
    # given Ada with NGN and USD wallets but no EUR wallet
    world = await make_world(db)
    async with client_for(db) as client:
        # when she asks for each currency
        usd = await gql(client, WALLET, {"currency": "USD"}, world.ada_token)
        eur = await gql(client, WALLET, {"currency": "EUR"}, world.ada_token)
    # then USD is her wallet and EUR is null
    wallet = usd["data"]["wallet"]
    assert wallet["currency"] == "USD"
    assert wallet["balance"] == {"amount": "500.00", "currency": "USD"}
    assert wallet["id"].startswith("wal_")
    assert eur == {"data": {"wallet": None}}


async def test_wallets_lists_the_customers_wallets(db: Database) -> None:
    # given Ada (NGN, USD) and Bola (NGN)
    world = await make_world(db)
    async with client_for(db) as client:
        # when each lists their wallets
        ada = await gql(client, WALLETS, token=world.ada_token)
        bola = await gql(client, WALLETS, token=world.bola_token)
    # then each sees exactly their own
    assert ada["data"]["wallets"] == [
        {"currency": "NGN", "balance": {"amount": "50000.00", "currency": "NGN"}},
        {"currency": "USD", "balance": {"amount": "500.00", "currency": "USD"}},
    ]
    assert bola["data"]["wallets"] == [
        {"currency": "NGN", "balance": {"amount": "1000.00", "currency": "NGN"}},
    ]


async def test_invoice_by_number_shows_its_payments_and_balance_due(db: Database) -> None:
    # given Ada's invoice 100123 of 15000 NGN, due in 30 days, paid 4000 then 1000.50
    world = await make_world(db)
    due = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)
    await invoice(db, 100123, world.ada, "15000", due_at=due)
    first = await make_payment(db, world.ada, 100123, "4000")
    second = await make_payment(db, world.ada, 100123, "1000.50")
    async with client_for(db) as client:
        # when she reads the invoice
        result = await gql(client, INVOICE, {"number": 100123}, world.ada_token)
    # then amounts, status, due date and both payments (oldest first) are there
    found = result["data"]["invoice"]
    assert found["id"].startswith("inv_")
    assert found["number"] == 100123
    assert found["status"] == "PARTIALLY_PAID"
    assert found["currency"] == "NGN"
    assert found["total"] == {"amount": "15000.00", "currency": "NGN"}
    assert found["amountPaid"] == {"amount": "5000.50", "currency": "NGN"}
    assert found["discountApplied"] == {"amount": "0.00"}
    assert found["balanceDue"] == {"amount": "9999.50", "currency": "NGN"}
    assert datetime.fromisoformat(found["dueAt"]) == due
    assert found["customer"] == {"id": world.ada}
    assert [p["id"] for p in found["payments"]] == [first, second]
    assert found["payments"][1] == {
        "id": second,
        "amount": {"amount": "1000.50", "currency": "NGN"},
        "walletDebit": {"amount": "1000.50", "currency": "NGN"},
        "exchangeRate": "1",
    }


async def test_an_unknown_invoice_number_is_null(db: Database) -> None:
    # given no invoice 999
    world = await make_world(db)
    async with client_for(db) as client:
        # when Ada asks for it
        result = await gql(client, INVOICE, {"number": 999}, world.ada_token)
    # then it is null, not an error
    assert result == {"data": {"invoice": None}}


async def test_invoices_filter_by_status(db: Database) -> None:
    # given Ada's invoices 1 unpaid, 2 partly paid, 3 paid, 4 void, and Bola's invoice 5
    world = await make_world(db)
    for number in (1, 2, 3, 4):
        await invoice(db, number, world.ada, "100")
    await invoice(db, 5, world.bola, "100")
    await make_payment(db, world.ada, 2, "40")
    await make_payment(db, world.ada, 3, "100")
    await admin.void_invoice(db, DEMO_CLONE, 4)
    async with client_for(db) as client:
        # when she lists them with and without a status
        everything = await gql(client, INVOICES, {}, world.ada_token)
        by_status = {
            status: await gql(client, INVOICES, {"status": status}, world.ada_token)
            for status in ("UNPAID", "PARTIALLY_PAID", "PAID", "VOID")
        }

    def numbers(result: dict[str, object]) -> list[tuple[int, str]]:
        data = result["data"]
        assert isinstance(data, dict)
        return [(e["node"]["number"], e["node"]["status"]) for e in data["invoices"]["edges"]]

    # then each filter returns exactly the invoices in that status, her own only
    assert numbers(everything) == [(1, "UNPAID"), (2, "PARTIALLY_PAID"), (3, "PAID"), (4, "VOID")]
    assert numbers(by_status["UNPAID"]) == [(1, "UNPAID")]
    assert numbers(by_status["PARTIALLY_PAID"]) == [(2, "PARTIALLY_PAID")]
    assert numbers(by_status["PAID"]) == [(3, "PAID")]
    assert numbers(by_status["VOID"]) == [(4, "VOID")]
    assert everything["data"]["invoices"]["pageInfo"]["hasNextPage"] is False


async def test_payment_by_id_shows_its_details(db: Database) -> None:
    # given Ada paid 2500 of invoice 100123 with a reference, memo and accounting code
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        paid = await pay_with(
            client,
            world.ada_token,
            100123,
            amount="2500",
            reference="ref-1",
            memo="first part",
            accountingCode="4000-01",
        )
        payment_id = paid["payment"]["id"]
        # when she reads the payment by its id
        result = await gql(client, PAYMENT, {"id": payment_id}, world.ada_token)
    # then every field is there, with its invoice and wallet
    payment = result["data"]["payment"]
    assert payment_id.startswith("pay_")
    assert payment["id"] == payment_id
    assert payment["amount"] == {"amount": "2500.00", "currency": "NGN"}
    assert payment["walletDebit"] == {"amount": "2500.00", "currency": "NGN"}
    assert payment["exchangeRate"] == "1"
    assert payment["discount"] == {"amount": "0.00"}
    assert (payment["reference"], payment["memo"], payment["accountingCode"]) == (
        "ref-1",
        "first part",
        "4000-01",
    )
    assert datetime.fromisoformat(payment["createdAt"]).tzinfo is not None
    assert payment["invoice"] == {"number": 100123, "balanceDue": {"amount": "12500.00"}}
    assert payment["wallet"] == {"currency": "NGN", "balance": {"amount": "47500.00"}}


async def test_an_unknown_payment_id_is_null(db: Database) -> None:
    world = await make_world(db)
    async with client_for(db) as client:
        result = await gql(client, PAYMENT, {"id": "pay_" + "0" * 24}, world.ada_token)
    assert result == {"data": {"payment": None}}


async def test_node_resolves_each_type_by_its_id(db: Database) -> None:
    # given Ada's customer, NGN wallet, invoice 100123 and a payment on it
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    payment_id = await make_payment(db, world.ada, 100123, "5000")
    async with client_for(db) as client:
        wallet_id = (await gql(client, WALLET, {"currency": "NGN"}, world.ada_token))["data"][
            "wallet"
        ]["id"]
        invoice_id = (await gql(client, INVOICE, {"number": 100123}, world.ada_token))["data"][
            "invoice"
        ]["id"]
        # when she asks node(id) for each id
        nodes = {
            kind: (await gql(client, NODE, {"id": node_id}, world.ada_token))["data"]["node"]
            for kind, node_id in {
                "customer": world.ada,
                "wallet": wallet_id,
                "invoice": invoice_id,
                "payment": payment_id,
            }.items()
        }
        unknown = await gql(client, NODE, {"id": "zzz_123"}, world.ada_token)
    # then each comes back as its own type with its own fields
    assert nodes["customer"] == {
        "__typename": "Customer",
        "id": world.ada,
        "name": "Ada Obi",
        "email": "ada@example.com",
    }
    assert nodes["wallet"] == {
        "__typename": "Wallet",
        "id": wallet_id,
        "currency": "NGN",
        "balance": {"amount": "45000.00"},
    }
    assert nodes["invoice"] == {
        "__typename": "Invoice",
        "id": invoice_id,
        "number": 100123,
        "balanceDue": {"amount": "10000.00"},
    }
    assert nodes["payment"] == {
        "__typename": "Payment",
        "id": payment_id,
        "amount": {"amount": "5000.00"},
    }
    # and an id of no known kind is null
    assert unknown == {"data": {"node": None}}


async def test_wallet_transactions_are_newest_first_with_the_balance_after_each(
    db: Database,
) -> None:
    # given Ada's NGN wallet: topped up 50000 and 2000, then paying 5000 and 10000
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "NGN", Decimal("2000"), "bonus")
    await invoice(db, 100123, world.ada, "15000")
    first = await make_payment(db, world.ada, 100123, "5000")
    second = await make_payment(db, world.ada, 100123, "10000")
    async with client_for(db) as client:
        # when she reads her wallet's history
        result = await gql(client, TRANSACTIONS, {"currency": "NGN"}, world.ada_token)
    # then every movement is there, newest first, each with the balance right after it
    history = result["data"]["wallet"]["transactions"]
    assert [
        (
            e["node"]["kind"],
            e["node"]["amount"]["amount"],
            e["node"]["balanceAfter"]["amount"],
            e["node"]["reference"],
            e["node"]["payment"],
        )
        for e in history["edges"]
    ] == [
        ("PAYMENT", "-10000.00", "37000.00", None, {"id": second}),
        ("PAYMENT", "-5000.00", "47000.00", None, {"id": first}),
        ("TOP_UP", "2000.00", "52000.00", "bonus", None),
        ("TOP_UP", "50000.00", "50000.00", None, None),
    ]
    assert history["pageInfo"]["hasNextPage"] is False
    assert history["pageInfo"]["hasPreviousPage"] is False


async def test_wallet_transactions_page_with_first_and_after(db: Database) -> None:
    # given four movements on Ada's NGN wallet
    world = await make_world(db)
    for amount in ("1", "2", "3"):
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "NGN", Decimal(amount))
    async with client_for(db) as client:
        # when she reads them two at a time
        one = await gql(client, TRANSACTIONS, {"currency": "NGN", "first": 2}, world.ada_token)
        cursor = one["data"]["wallet"]["transactions"]["pageInfo"]["endCursor"]
        two = await gql(
            client,
            TRANSACTIONS,
            {"currency": "NGN", "first": 2, "after": cursor},
            world.ada_token,
        )
        end = two["data"]["wallet"]["transactions"]["pageInfo"]["endCursor"]
        three = await gql(
            client,
            TRANSACTIONS,
            {"currency": "NGN", "first": 2, "after": end},
            world.ada_token,
        )
    # then the pages follow each other without gaps or repeats, and then end
    page_one = one["data"]["wallet"]["transactions"]
    page_two = two["data"]["wallet"]["transactions"]
    page_three = three["data"]["wallet"]["transactions"]
    assert [e["node"]["amount"]["amount"] for e in page_one["edges"]] == ["3.00", "2.00"]
    assert [e["node"]["balanceAfter"]["amount"] for e in page_one["edges"]] == [
        "50006.00",
        "50003.00",
    ]
    assert page_one["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "endCursor": page_one["edges"][-1]["cursor"],
    }
    assert [e["node"]["amount"]["amount"] for e in page_two["edges"]] == ["1.00", "50000.00"]
    assert page_two["pageInfo"]["hasNextPage"] is False
    assert page_two["pageInfo"]["hasPreviousPage"] is True
    assert page_three["edges"] == []
    assert page_three["pageInfo"]["hasNextPage"] is False


async def _invoices_with_payments(db: Database, world_ids: tuple[str, str], numbers: range) -> None:
    for number in numbers:
        customer = world_ids[number % 2]
        await invoice(db, number, customer, "100")
        await make_payment(db, customer, number, "10")


async def test_listing_invoices_with_payments_and_customers_has_no_n_plus_one(
    db: Database,
) -> None:
    # given 5 invoices of Ada and Bola, each with a payment
    world = await make_world(db)
    customers = (world.ada, world.bola)
    await _invoices_with_payments(db, customers, range(1, 6))
    async with client_for(db) as client:
        # when an admin lists them with their customers, payments and wallets
        with counting_statements(db) as few_statements:
            few = await gql(client, INVOICES_IN_DETAIL, token=world.admin_token)
        # and again once there are 50
        await _invoices_with_payments(db, customers, range(6, 51))
        with counting_statements(db) as many_statements:
            many = await gql(client, INVOICES_IN_DETAIL, token=world.admin_token)
    # then every invoice comes with its customer and payment
    assert len(few["data"]["invoices"]["edges"]) == 5
    edges = many["data"]["invoices"]["edges"]
    assert [e["node"]["number"] for e in edges] == list(range(1, 51))
    for edge in edges:
        node = edge["node"]
        assert node["customer"]["id"] == customers[node["number"] % 2]
        assert [(p["amount"]["amount"], p["wallet"]["currency"]) for p in node["payments"]] == [
            ("10.00", "NGN")
        ]
    # and the number of SQL statements does not grow with the number of invoices
    assert len(many_statements) == len(few_statements), many_statements
    assert len(many_statements) <= 6, many_statements


async def test_a_due_date_in_the_past_is_still_shown(db: Database) -> None:
    # given an overdue invoice
    world = await make_world(db)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    await invoice(db, 7, world.ada, "10", due_at=due)
    async with client_for(db) as client:
        result = await gql(client, INVOICE, {"number": 7}, world.ada_token)
    # then its due date reads back unchanged, in UTC
    assert datetime.fromisoformat(result["data"]["invoice"]["dueAt"]) == due


async def test_a_nul_character_in_an_id_is_bad_user_input_not_a_crash(db: Database) -> None:
    # given Ada's invoice with a payment
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    await make_payment(db, world.ada, 100123, "5000")
    async with client_for(db) as client:
        # when she asks for ids holding a NUL character, as variables and as literals
        results = [
            await gql(client, NODE, {"id": "inv_\x00"}, world.ada_token),
            await gql(client, PAYMENT, {"id": "pay_\x00"}, world.ada_token),
            await gql(client, 'query { node(id: "cus_\\u0000") { id } }', {}, world.ada_token),
            await gql(client, WALLET, {"currency": "NG\x00"}, world.ada_token),
        ]
    # then each is a top-level BAD_USER_INPUT error on both backends, never a masked 500
    for result in results:
        assert result["data"] is None
        assert error_codes(result) == ["BAD_USER_INPUT"], result
