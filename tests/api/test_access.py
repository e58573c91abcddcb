"""Nothing crosses customers or tenants: lists and histories hold only the caller's own
objects, admin mutations need an admin token, and every request needs a valid one.

That another's identifier is answered exactly like a missing one, by every operation that
takes one, is tests/api/test_isolation.py's table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import text

from app.db.engine import Database
from tests.support import (
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    DEMO_CLONE,
    OTHER_CLONE,
    PAY,
    REVOKE,
    SECRET,
    TOP_UP,
    VOID,
    World,
    client_for,
    error_codes,
    gql,
    gql_on,
    invoice,
    make_payment,
    make_world,
    pay_with,
    snapshot_all,
    suspend,
)

VIEWER = "query { viewer { id wallets { id } } }"
WALLET = "query Wallet($currency: String!) { wallet(currency: $currency) { id } }"
WALLETS = "query { wallets { id } }"
INVOICE = "query Invoice($number: Int!) { invoice(number: $number) { id number } }"
INVOICES = """
query Invoices($first: Int) {
  invoices(first: $first) { edges { node { number } } pageInfo { hasNextPage } }
}
"""
PAYMENT = "query Payment($id: ID!) { payment(id: $id) { id } }"
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { name wallets { id } }
    ... on Wallet { balance { amount } }
    ... on Invoice { number }
    ... on Payment { amount { amount } }
  }
}
"""
TRANSACTIONS = """
query Transactions($currency: String!) {
  wallet(currency: $currency) {
    id
    transactions(first: 100) { edges { node { amount { amount } } } }
  }
}
"""


@dataclass(frozen=True)
class Books:
    """The world, plus an invoice with a payment for Ada, Bola and the other tenant's Sam."""

    world: World
    ada_ngn_wallet: str
    ada_usd_wallet: str
    bola_wallet: str
    stranger_wallet: str
    ada_invoice: str
    bola_invoice: str
    stranger_invoice: str
    ada_payment: str
    bola_payment: str
    stranger_payment: str


async def _id(db: Database, sql: str, **params: Any) -> str:
    async with db.engine.connect() as connection:
        value = (await connection.execute(text(sql), params)).scalar_one()
    assert isinstance(value, str)
    return value


async def given_books(db: Database) -> Books:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    await invoice(db, 200, world.bola, "500")
    await invoice(db, 300, world.stranger, "100", tenant_id=OTHER_CLONE)
    ada_payment = await make_payment(db, world.ada, 100123, "5000")
    bola_payment = await make_payment(db, world.bola, 200, "100")
    stranger_payment = await make_payment(db, world.stranger, 300, "50", tenant_id=OTHER_CLONE)
    wallet = "SELECT id FROM wallets WHERE customer_id = :c AND currency = :currency"
    number = "SELECT id FROM invoices WHERE tenant_id = :t AND number = :n"
    return Books(
        world=world,
        ada_ngn_wallet=await _id(db, wallet, c=world.ada, currency="NGN"),
        ada_usd_wallet=await _id(db, wallet, c=world.ada, currency="USD"),
        bola_wallet=await _id(db, wallet, c=world.bola, currency="NGN"),
        stranger_wallet=await _id(db, wallet, c=world.stranger, currency="NGN"),
        ada_invoice=await _id(db, number, t=DEMO_CLONE, n=100123),
        bola_invoice=await _id(db, number, t=DEMO_CLONE, n=200),
        stranger_invoice=await _id(db, number, t=OTHER_CLONE, n=300),
        ada_payment=ada_payment,
        bola_payment=bola_payment,
        stranger_payment=stranger_payment,
    )


def outsiders(world: World) -> dict[str, str]:
    """Tokens that must never see Ada's objects: another customer of her tenant, a
    customer of another tenant, and an admin of another tenant."""
    return {
        "bola": world.bola_token,
        "stranger": world.stranger_token,
        "other admin": world.other_admin_token,
    }


def numbers(result: dict[str, Any]) -> list[int]:
    return [edge["node"]["number"] for edge in result["data"]["invoices"]["edges"]]


async def test_wallet_by_currency_is_only_ever_the_callers_own(db: Database) -> None:
    # given Ada's NGN and USD wallets; Bola and Sam hold only NGN, admins hold none
    books = await given_books(db)
    async with client_for(db) as client:
        for who, token in outsiders(books.world).items():
            # when an outsider asks for USD, which only Ada has, and for EUR, which nobody has
            usd = await gql(client, WALLET, {"currency": "USD"}, token)
            eur = await gql(client, WALLET, {"currency": "EUR"}, token)
            # then both answers are the same null
            assert usd == eur == {"data": {"wallet": None}}, who
        # and an NGN wallet is the caller's own, never Ada's
        bola = await gql(client, WALLET, {"currency": "NGN"}, books.world.bola_token)
        sam = await gql(client, WALLET, {"currency": "NGN"}, books.world.stranger_token)
        admin = await gql(client, WALLET, {"currency": "NGN"}, books.world.other_admin_token)
    assert bola == {"data": {"wallet": {"id": books.bola_wallet}}}
    assert sam == {"data": {"wallet": {"id": books.stranger_wallet}}}
    assert admin == {"data": {"wallet": None}}


async def test_connections_list_only_the_callers_own_objects(db: Database) -> None:
    # given invoices and wallets of Ada, Bola and Sam (another tenant)
    books = await given_books(db)
    world = books.world
    async with client_for(db) as client:
        # when each lists invoices, wallets and their viewer's wallets
        invoices = {
            who: numbers(await gql(client, INVOICES, {"first": 100}, token))
            for who, token in {
                "ada": world.ada_token,
                "bola": world.bola_token,
                "stranger": world.stranger_token,
            }.items()
        }
        wallets = {
            who: await gql(client, WALLETS, token=token)
            for who, token in {"bola": world.bola_token, "stranger": world.stranger_token}.items()
        }
        viewers = {
            who: await gql(client, VIEWER, token=token)
            for who, token in {"bola": world.bola_token, "stranger": world.stranger_token}.items()
        }
        other_admin_wallets = await gql(client, WALLETS, token=world.other_admin_token)
    # then each sees only their own
    assert invoices == {"ada": [100123], "bola": [200], "stranger": [300]}
    assert wallets["bola"] == {"data": {"wallets": [{"id": books.bola_wallet}]}}
    assert wallets["stranger"] == {"data": {"wallets": [{"id": books.stranger_wallet}]}}
    assert viewers["bola"]["data"]["viewer"] == {
        "id": world.bola,
        "wallets": [{"id": books.bola_wallet}],
    }
    assert viewers["stranger"]["data"]["viewer"] == {
        "id": world.stranger,
        "wallets": [{"id": books.stranger_wallet}],
    }
    assert other_admin_wallets == {"data": {"wallets": []}}


async def test_wallet_transactions_hold_only_that_wallets_movements(db: Database) -> None:
    # given Ada (topped up 50000, paid 5000) and Bola (topped up 1000, paid 100)
    books = await given_books(db)
    async with client_for(db) as client:
        # when Bola reads his NGN history, and asks for Ada's NGN wallet by id
        own = await gql(client, TRANSACTIONS, {"currency": "NGN"}, books.world.bola_token)
        ada_wallet = await gql(client, NODE, {"id": books.ada_ngn_wallet}, books.world.bola_token)
    # then his history is his two movements only, and Ada's wallet (with its history) is absent
    wallet = own["data"]["wallet"]
    assert wallet["id"] == books.bola_wallet
    assert [e["node"]["amount"]["amount"] for e in wallet["transactions"]["edges"]] == [
        "-100.00",
        "1000.00",
    ]
    assert ada_wallet == {"data": {"node": None}}


async def test_an_admin_sees_its_own_tenants_invoices_but_never_another_tenants(
    db: Database,
) -> None:
    # given invoices 100123 (Ada) and 200 (Bola) in the demo tenant, 300 in the other
    books = await given_books(db)
    world = books.world
    async with client_for(db) as client:
        # when each tenant's admin lists invoices and asks for each number
        demo_list = numbers(await gql(client, INVOICES, {"first": 100}, world.admin_token))
        other_list = numbers(await gql(client, INVOICES, {"first": 100}, world.other_admin_token))
        demo_own = await gql(client, INVOICE, {"number": 100123}, world.admin_token)
        demo_foreign = await gql(client, INVOICE, {"number": 300}, world.admin_token)
        other_own = await gql(client, INVOICE, {"number": 300}, world.other_admin_token)
        other_foreign = await gql(client, INVOICE, {"number": 100123}, world.other_admin_token)
        demo_node = await gql(client, NODE, {"id": books.stranger_invoice}, world.admin_token)
        demo_customer = await gql(client, NODE, {"id": world.ada}, world.admin_token)
    # then each sees all of its own tenant's invoices and none of the other's
    assert demo_list == [200, 100123]
    assert other_list == [300]
    assert demo_own == {"data": {"invoice": {"id": books.ada_invoice, "number": 100123}}}
    assert other_own == {"data": {"invoice": {"id": books.stranger_invoice, "number": 300}}}
    assert demo_foreign == other_foreign == {"data": {"invoice": None}}
    assert demo_node == {"data": {"node": None}}
    assert demo_customer["data"]["node"]["id"] == world.ada


async def _jti(token: str) -> str:
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    jti = claims["jti"]
    assert isinstance(jti, str)
    return jti


def admin_calls(books: Books, admin_jti: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """One valid call of each admin mutation (each would write if an admin made it)."""
    world = books.world
    return {
        "createCustomer": (
            CREATE_CUSTOMER,
            {"input": {"name": "Eve", "email": "eve@example.com"}},
        ),
        "createInvoice": (
            CREATE_INVOICE,
            {"input": {"number": 777, "customerId": world.ada, "currency": "NGN", "total": "1"}},
        ),
        "topUpWallet": (
            TOP_UP,
            {"input": {"customerId": world.ada, "currency": "NGN", "amount": "1000"}},
        ),
        "voidInvoice": (VOID, {"number": 400}),
        "revokeSession": (REVOKE, {"jti": admin_jti}),
    }


async def test_a_customer_token_cannot_call_any_admin_mutation(db: Database) -> None:
    # given Ada's customer token, an unpaid invoice 400 and an admin session
    books = await given_books(db)
    await invoice(db, 400, books.world.ada, "10")
    calls = admin_calls(books, await _jti(books.world.admin_token))
    before = await snapshot_all(db)
    async with client_for(db) as client:
        for name, (document, variables) in calls.items():
            # when she calls the admin mutation
            result = await gql(client, document, variables, books.world.ada_token)
            # then it is a top-level FORBIDDEN error and no data
            assert result["data"] is None, name
            assert error_codes(result) == ["FORBIDDEN"], (name, result)
        # and the admin token still works: its session was not revoked
        still = await gql(client, INVOICES, {"first": 1}, books.world.admin_token)
    assert "errors" not in still
    # and nothing was written
    assert await snapshot_all(db) == before


async def test_every_operation_without_a_token_is_unauthenticated(db: Database) -> None:
    # given the books and a valid call of every operation
    books = await given_books(db)
    await invoice(db, 400, books.world.ada, "10")
    operations: dict[str, tuple[str, dict[str, Any]]] = {
        "viewer": (VIEWER, {}),
        "wallet": (WALLET, {"currency": "NGN"}),
        "wallets": (WALLETS, {}),
        "invoice": (INVOICE, {"number": 100123}),
        "invoices": (INVOICES, {"first": 10}),
        "payment": (PAYMENT, {"id": books.ada_payment}),
        "node": (NODE, {"id": books.ada_invoice}),
        "payInvoice": (PAY, {"input": {"invoiceNumber": 100123, "currency": "NGN"}}),
        **admin_calls(books, await _jti(books.world.admin_token)),
    }
    before = await snapshot_all(db)
    async with client_for(db) as client:
        for name, (document, variables) in operations.items():
            # when it is called with no Authorization header
            result = await gql(client, document, variables)
            # then it is a top-level UNAUTHENTICATED error, and nothing of the data leaks
            assert error_codes(result) == ["UNAUTHENTICATED"], (name, result)
            data = result["data"]
            assert data is None or all(value is None for value in data.values()), (name, data)
    # and nothing was written
    assert await snapshot_all(db) == before


async def test_a_suspended_customer_is_forbidden(db: Database) -> None:
    # given Ada is suspended
    books = await given_books(db)
    await suspend(db, books.world.ada)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when she reads or pays
        reads = {
            "viewer": await gql(client, VIEWER, token=books.world.ada_token),
            "invoices": await gql(client, INVOICES, {"first": 5}, books.world.ada_token),
            "invoice": await gql(client, INVOICE, {"number": 100123}, books.world.ada_token),
        }
        pay = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "1"}},
            books.world.ada_token,
        )
        # and Bola, who is not suspended, reads
        bola = await gql(client, VIEWER, token=books.world.bola_token)
    # then each of her requests is FORBIDDEN and nothing was paid
    for name, result in reads.items():
        assert error_codes(result) == ["FORBIDDEN"], name
    assert error_codes(pay) == ["FORBIDDEN"]
    assert pay["data"] is None
    assert await snapshot_all(db) == before
    # and Bola is unaffected
    assert bola["data"]["viewer"]["id"] == books.world.bola


async def test_pay_invoice_with_another_clone_id_is_forbidden_and_writes_nothing(
    db: Database,
) -> None:
    # given Ada's token of the demo tenant and her invoice 100123
    books = await given_books(db)
    before = await snapshot_all(db)
    # when she pays naming another tenant's cloneId
    result = await gql_on(
        db,
        PAY,
        {"input": {"invoiceNumber": 100123, "currency": "NGN", "cloneId": OTHER_CLONE}},
        books.world.ada_token,
    )
    # then it is FORBIDDEN and nothing was written
    assert error_codes(result) == ["FORBIDDEN"]
    assert result["data"] is None
    assert await snapshot_all(db) == before


async def test_pay_invoice_with_the_tokens_clone_id_succeeds(db: Database) -> None:
    # given Ada's token of the demo tenant and her invoice 100123 (10000 left)
    books = await given_books(db)
    async with client_for(db) as client:
        # when she pays naming her own tenant's cloneId
        paid = await pay_with(client, books.world.ada_token, 100123, cloneId=DEMO_CLONE)
    # then the payment goes through
    assert (paid["__typename"], paid["invoice"]["status"]) == ("PayInvoiceSuccess", "PAID")
