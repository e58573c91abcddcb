"""Another customer's or another tenant's identifier is answered exactly like one that does
not exist, by every operation that takes one, and writes nothing.

One table, `PROBES`, holds a case for every identifier argument: each GraphQL field or
mutation input (read from the schema itself, so a new argument without a case fails
`test_every_identifier_argument_of_the_schema_has_a_probe`) and each identifier of the
REST route (read from its OpenAPI document). Each probe is run for every pair in `PAIRS`:

- Bola (a customer) with Ada's identifier: another customer of his own tenant;
- Bola and Sam (customers) with the other tenant's identifiers;
- the demo admin with the other tenant's, and the other admin with the demo tenant's.

For each pair the whole answer to "their" identifier (status, headers, body) must equal
the answer to one that does not exist, once request-specific values (the request id, the
rate-limit counters, the identifier echoed back) are normalised; and `snapshot_all` must
not change. Probes of identifiers that are unique only inside a tenant or a customer
(an email, an invoice number to create, an idempotency key) legitimately write: there the
answer must be the one to a fresh identifier, and the victim's rows must not change.

A positive control per probe (the owner using its own identifier gets something else
than "missing") proves no case passes because its document is broken.

The one place the contract names a distinct answer: paying an invoice of another customer
of the same tenant is `InvoiceOwnershipMismatch` (REST 400 "Customer Invoice does not
match expected credentials"), Check.INVOICE_OWNERSHIP_MISMATCH in docs/design.md. That case
asserts exactly that answer, and that it tells nothing about the invoice (its currency);
another tenant's invoice number is still indistinguishable from a missing one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    build_schema,
    get_named_type,
)
from sqlalchemy import text

from app.api.graphql.lists import encode_position
from app.api.graphql.schema import schema as app_schema
from app.api.graphql.types import encode_cursor
from app.api.rest.openapi import openapi_document
from app.api.rest.route import MISSING_PARAMETERS
from app.api.rest.route import PATH as REST_PATH
from app.billing import admin
from app.db.engine import Database
from app.db.models import utcnow
from app.db.uow import UnitOfWork
from app.events.outbox import record
from app.payments import PayInvoice, pay_invoice
from app.refunds import RefundPayment, refund_payment
from app.webhooks import endpoints
from tests.support import (
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    DEMO_CLONE,
    OTHER_CLONE,
    REVOKE,
    SECRET,
    TOP_UP,
    VOID,
    client_for,
    invoice,
    make_world,
    snapshot_all,
)
from tests.support.figures import report

MISSING_NUMBER = 999_999
MISSING_CLONE = "64f0000000000000000000aa"
MISSING_JTI = "0" * 32
MISSING_CURRENCY = "EUR"  # a known currency nobody in the world holds a wallet in
NEW_ID = re.compile(r"^(cus|wal|inv|pay|ref)_[0-9a-f]{24}$")
# Differ from request to request whatever was asked: never part of the comparison.
VOLATILE_HEADERS = {
    "x-request-id",
    "ratelimit-remaining",
    "ratelimit-reset",
    "content-length",
    "date",
}

# --- the world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """Someone who asks: a token, its tenant, and what it may legitimately use."""

    token: str
    tenant: str
    is_admin: bool
    customer: str  # itself, or (for an admin) a customer of its tenant
    invoice: int  # an open invoice it may pay or manage
    wallet: str  # a wallet whose history it may read
    payment: str = ""  # a payment it may refund (an admin: one of its tenant)


@dataclass(frozen=True)
class Owned:
    """Everything a victim owns that a probe can aim at."""

    tenant: str
    customer: str
    email: str
    currency: str  # the only wallet currency nobody else holds
    wallet: str
    invoice_number: int  # partly paid
    invoice_id: str
    unpaid_number: int  # no payments: voidable
    payment: str
    idempotency_key: str
    jti: str
    refund: str
    refund_key: str  # the idempotency key of that refund (the tenant's admins')
    webhook_endpoint: str
    event: str


@dataclass
class Scene:
    db: Database
    parties: dict[str, Party]
    owned: dict[str, Owned]
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fresh(self) -> int:
        return next(self.counter)


# (caller, victim): every way one party can hold another's identifier.
PAIRS = [
    ("bola", "ada"),  # another customer of the same tenant
    ("bola", "sam"),  # a customer of another tenant
    ("sam", "ada"),
    ("demo admin", "sam"),  # an admin with another tenant's identifier
    ("other admin", "ada"),
]
OWNER = {"ada": "ada", "sam": "sam"}
OWNING_ADMIN = {"ada": "demo admin", "sam": "other admin"}


def jti_of(token: str) -> str:
    jti = jwt.decode(token, SECRET, algorithms=["HS256"])["jti"]
    assert isinstance(jti, str)
    return jti


async def scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def webhook_and_event(db: Database, tenant: str) -> tuple[str, str]:
    """A webhook endpoint of the tenant and an event delivered to it."""
    endpoint, _ = await endpoints.create_endpoint(
        db, tenant, "https://hooks.example.com/in", ["invoice.created"], None, allow_private=True
    )
    async with UnitOfWork(db, write=True) as uow:
        event = await record(uow.session, tenant, "invoice.created", {}, utcnow())
        await uow.commit()
    return endpoint.row.id, event.id


def own(scene: Scene, party: Party) -> Owned:
    """What the caller's own tenant owns (its webhook endpoint and event)."""
    return next(owned for owned in scene.owned.values() if owned.tenant == party.tenant)


def redeliver(pick: Callable[[Scene, Party, Any], dict[str, Any]]) -> Call:
    async def call(client: httpx.AsyncClient, scene: Scene, party: Party, value: Any) -> Answer:
        response = await client.post(
            "/graphql",
            json={"query": REDELIVER, "variables": pick(scene, party, value)},
            headers={"Authorization": f"Bearer {party.token}"},
        )
        return await answer_of(response)

    return call


async def given_two_tenants(db: Database) -> Scene:
    """Ada and Bola in the demo tenant, Sam in the other; each with a partly paid invoice
    (paid under an idempotency key), Ada and Sam with an unpaid one, and a wallet currency
    of their own (Ada USD, Sam JPY)."""
    world = await make_world(db)
    await admin.top_up_wallet(db, OTHER_CLONE, world.stranger, "JPY", Decimal(1000))
    await invoice(db, 100123, world.ada, "15000")
    await invoice(db, 200, world.bola, "500")
    await invoice(db, 300, world.stranger, "100", tenant_id=OTHER_CLONE)
    await invoice(db, 401, world.ada, "10")
    await invoice(db, 501, world.stranger, "10", tenant_id=OTHER_CLONE)
    payments = {}
    for who, tenant, customer, number, amount in (
        ("ada", DEMO_CLONE, world.ada, 100123, "5000"),
        ("bola", DEMO_CLONE, world.bola, 200, "100"),
        ("sam", OTHER_CLONE, world.stranger, 300, "50"),
    ):
        receipt = await pay_invoice(
            db,
            PayInvoice(
                tenant_id=tenant,
                customer_id=customer,
                invoice_number=number,
                currency="NGN",
                amount=Decimal(amount),
                idempotency_key=f"{who}-key-1",
            ),
        )
        payments[who] = receipt.payment_id
    refunds = {}
    for who, tenant in (("ada", DEMO_CLONE), ("sam", OTHER_CLONE)):
        result = await refund_payment(
            db,
            RefundPayment(
                tenant_id=tenant,
                payment_id=payments[who],
                amount=Decimal(1),
                idempotency_key=f"{who}-refund-key",
            ),
        )
        refunds[who] = result.refund_id

    async def wallet(customer: str) -> str:
        sql = "SELECT id FROM wallets WHERE customer_id = :c AND currency = 'NGN'"
        value: str = await scalar(db, sql, c=customer)
        return value

    async def invoice_id(tenant: str, number: int) -> str:
        sql = "SELECT id FROM invoices WHERE tenant_id = :t AND number = :n"
        value: str = await scalar(db, sql, t=tenant, n=number)
        return value

    wallets = {c: await wallet(c) for c in (world.ada, world.bola, world.stranger)}
    hooks = {tenant: await webhook_and_event(db, tenant) for tenant in (DEMO_CLONE, OTHER_CLONE)}
    parties = {
        "ada": Party(world.ada_token, DEMO_CLONE, False, world.ada, 100123, wallets[world.ada]),
        "bola": Party(world.bola_token, DEMO_CLONE, False, world.bola, 200, wallets[world.bola]),
        "sam": Party(
            world.stranger_token, OTHER_CLONE, False, world.stranger, 300, wallets[world.stranger]
        ),
        "demo admin": Party(
            world.admin_token,
            DEMO_CLONE,
            True,
            world.bola,
            200,
            wallets[world.bola],
            payment=payments["bola"],
        ),
        "other admin": Party(
            world.other_admin_token,
            OTHER_CLONE,
            True,
            world.stranger,
            300,
            wallets[world.stranger],
            payment=payments["sam"],
        ),
    }
    owned = {
        "ada": Owned(
            tenant=DEMO_CLONE,
            customer=world.ada,
            email="ada@example.com",
            currency="USD",
            wallet=wallets[world.ada],
            invoice_number=100123,
            invoice_id=await invoice_id(DEMO_CLONE, 100123),
            unpaid_number=401,
            payment=payments["ada"],
            idempotency_key="ada-key-1",
            jti=jti_of(world.ada_token),
            refund=refunds["ada"],
            refund_key="ada-refund-key",
            webhook_endpoint=hooks[DEMO_CLONE][0],
            event=hooks[DEMO_CLONE][1],
        ),
        "sam": Owned(
            tenant=OTHER_CLONE,
            customer=world.stranger,
            email="sam@example.com",
            currency="JPY",
            wallet=wallets[world.stranger],
            invoice_number=300,
            invoice_id=await invoice_id(OTHER_CLONE, 300),
            unpaid_number=501,
            payment=payments["sam"],
            idempotency_key="sam-key-1",
            jti=jti_of(world.stranger_token),
            refund=refunds["sam"],
            refund_key="sam-refund-key",
            webhook_endpoint=hooks[OTHER_CLONE][0],
            event=hooks[OTHER_CLONE][1],
        ),
    }
    return Scene(db=db, parties=parties, owned=owned)


# --- answers and their normal form ---------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


async def answer_of(response: httpx.Response) -> Answer:
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
    return Answer(response.status_code, headers, response.json())


def normal(answer: Answer, identifier: object, *, writes: bool, volatile: frozenset[str]) -> Answer:
    """`answer` without what differs from request to request: the request id, the
    identifier asked for wherever it is echoed, and (for a probe that creates rows) the
    new rows' ids, times and the `volatile` keys."""

    def walk(value: Any, key: str = "") -> Any:
        if key == "requestId":
            return "<request id>"
        if writes and (key in volatile or key in {"createdAt", "revokedAt"}):
            return "<changes>"
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if type(value) is type(identifier) and value == identifier:
            return "<identifier>"
        if isinstance(value, str):
            if writes and NEW_ID.match(value):
                return "<new id>"
            if isinstance(identifier, str) and len(identifier) >= 3:
                return value.replace(identifier, "<identifier>")
        return value

    return Answer(answer.status, answer.headers, walk(answer.body))


def assert_well_formed(
    answer: Answer, where: object, refusals: frozenset[str] = frozenset({"FORBIDDEN"})
) -> None:
    """A probe whose request is itself wrong would compare two equal refusals: only the
    refusals an identifier can legitimately meet are allowed."""
    body = answer.body
    if isinstance(body, dict) and "errors" in body:
        codes = [e.get("extensions", {}).get("code") for e in body["errors"]]
        assert set(codes) <= refusals, (where, body)
    refused = isinstance(body, dict) and body.get("message") == MISSING_PARAMETERS
    assert not refused, (where, body)


# --- probes --------------------------------------------------------------------------------

Call = Callable[[httpx.AsyncClient, Scene, Party, Any], Awaitable[Answer]]
Pick = Callable[[Scene, str], Awaitable[Any]]


@dataclass(frozen=True)
class Probe:
    argument: str  # "Query.invoice.number", "Mutation.payInvoice.input.memo", "REST body.invoice"
    call: Call
    theirs: Pick  # the victim's identifier
    missing: Pick  # one that does not exist (or, for `writes`, is fresh)
    case: str = ""  # tells apart probes of one argument (node ids of each type)
    tenant_scoped: bool = False  # a tenant's identifier: same-tenant pairs are not "other's"
    writes: bool = False
    volatile: frozenset[str] = frozenset()
    control: str | None = "customer"  # who owns the identifier: "customer", "admin" or None
    same_tenant_answer: Callable[[], Answer] | None = None  # the contract's named exception
    same_tenant_variant: Call | None = None  # the same ask in another currency
    # Error codes its answers may carry: a cursor naming no event of the tenant is refused.
    refusals: frozenset[str] = frozenset({"FORBIDDEN"})

    @property
    def name(self) -> str:
        return f"{self.argument}[{self.case}]" if self.case else self.argument


def owned(attribute: str) -> Pick:
    async def pick(scene: Scene, victim: str) -> Any:
        return getattr(scene.owned[victim], attribute)

    return pick


def constant(value: object) -> Pick:
    async def pick(_scene: Scene, _victim: str) -> Any:
        return value

    return pick


def graphql(document: str, variables: Callable[[Party, Any], dict[str, Any]]) -> Call:
    async def call(client: httpx.AsyncClient, _scene: Scene, party: Party, value: Any) -> Answer:
        response = await client.post(
            "/graphql",
            json={"query": document, "variables": variables(party, value)},
            headers={"Authorization": f"Bearer {party.token}"},
        )
        return await answer_of(response)

    return call


def rest(
    body: Callable[[Party, Any], dict[str, Any]],
    headers: Callable[[Any], dict[str, str]] = lambda _value: {},
) -> Call:
    async def call(client: httpx.AsyncClient, _scene: Scene, party: Party, value: Any) -> Answer:
        response = await client.post(
            REST_PATH,
            json=body(party, value),
            headers={"Authorization": f"Bearer {party.token}", **headers(value)},
        )
        return await answer_of(response)

    return call


WALLET = """
query Wallet($currency: String!) {
  wallet(currency: $currency) { id currency balance { amount currency } createdAt }
}
"""
INVOICE_FIELDS = """
fragment InvoiceFields on Invoice {
  id number status currency total { amount } amountPaid { amount } balanceDue { amount }
  payments { id } customer { id }
}
"""
INVOICE = (
    "query Invoice($number: Int!) { invoice(number: $number) { ...InvoiceFields } }"
    + INVOICE_FIELDS
)
INVOICES = """
query Invoices($after: String) {
  invoices(first: 100, after: $after) {
    edges { cursor node { id number } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
PAYMENT = """
query Payment($id: ID!) {
  payment(id: $id) {
    id amount { amount currency } memo idempotencyKey invoice { id } wallet { id }
  }
}
"""
NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { name email wallets { id } }
    ... on Wallet { currency balance { amount } }
    ... on Invoice { number balanceDue { amount } }
    ... on Payment { amount { amount } memo }
    ... on Refund { amount { amount } walletCredit { amount } reason payment { id } }
    ... on WebhookEndpoint { url eventTypes }
    ... on Event { type data }
  }
}
"""
EVENTS = """
query Events($after: String) {
  events(first: 100, after: $after) { edges { cursor node { id type data } } }
}
"""
TRANSACTIONS = """
query Transactions($wallet: ID!, $after: String) {
  node(id: $wallet) {
    id
    ... on Wallet {
      transactions(first: 100, after: $after) {
        edges { cursor node { id kind amount { amount } balanceAfter { amount } payment { id } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
}
"""
CUSTOMER = """
query Customer($id: ID!) { customer(id: $id) { id name email status wallets { id } } }
"""
CUSTOMERS = """
query Customers($after: String) {
  customers(first: 100, after: $after) {
    edges { cursor node { id name email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
PAYMENTS = """
query Payments($after: String, $customerId: ID, $invoiceNumber: Int) {
  payments(first: 100, after: $after, customerId: $customerId, invoiceNumber: $invoiceNumber) {
    edges { cursor node { id amount { amount } memo invoice { number } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess { replayed payment { amount { amount } idempotencyKey } }
    ... on Error { code message }
    ... on InvoiceNotFound { number }
    ... on InvoiceOwnershipMismatch { number }
    ... on CurrencyMismatch { expected received }
    ... on InvoiceAlreadyPaid { number }
    ... on WalletNotFound { currency }
    ... on WrongAmount { reason balanceDue { amount currency } }
    ... on InsufficientFunds { balance { amount } required { amount } }
    ... on IdempotencyKeyReused { key }
  }
}
"""
REFUND = """
mutation Refund($input: RefundPaymentInput!) {
  refundPayment(input: $input) {
    __typename
    ... on RefundPaymentSuccess { replayed refund { id amount { amount } } }
    ... on Error { code message }
    ... on PaymentNotFound { paymentId }
    ... on RefundExceedsRefundable { refundable { amount } }
    ... on IdempotencyKeyReused { key }
  }
}
"""


NOT_FOUND = """
  ... on Error { code message }
  ... on WebhookEndpointNotFound { endpointId }
"""
UPDATE_WEBHOOK = (
    """
mutation Update($id: ID!) {
  updateWebhookEndpoint(id: $id, input: {enabled: true}) {
    __typename ... on WebhookEndpoint { id url eventTypes enabled }"""
    + NOT_FOUND
    + """
  }
}
"""
)
DELETE_WEBHOOK = (
    """
mutation Delete($id: ID!) {
  deleteWebhookEndpoint(id: $id) {
    __typename ... on DeleteWebhookEndpointSuccess { id }"""
    + NOT_FOUND
    + """
  }
}
"""
)
ROTATE_WEBHOOK = (
    """
mutation Rotate($id: ID!) {
  rotateWebhookSecret(id: $id) {
    __typename ... on RotateWebhookSecretSuccess { endpoint { id } }"""
    + NOT_FOUND
    + """
  }
}
"""
)
REDELIVER = """
mutation Redeliver($endpointId: ID!, $eventId: ID!) {
  redeliverEvent(endpointId: $endpointId, eventId: $eventId) {
    __typename
    ... on WebhookDelivery { status event { id type } }
    ... on Error { code message }
    ... on WebhookEndpointNotFound { endpointId }
    ... on EventNotFound { eventId }
  }
}
"""
MISSING_ENDPOINT = f"whe_{'0' * 24}"
MISSING_EVENT = f"evt_{'0' * 24}"


async def invoice_cursor(scene: Scene, victim: str) -> str:
    return encode_cursor("inv", scene.owned[victim].invoice_number)


async def invoice_cursor_missing(scene: Scene, victim: str) -> str:
    # The next number: no invoice has it, so every page after it is the same as after theirs.
    number = scene.owned[victim].invoice_number + 1
    taken = await scalar(scene.db, "SELECT count(*) FROM invoices WHERE number = :n", n=number)
    assert taken == 0
    return encode_cursor("inv", number)


async def newest_entry_cursor(scene: Scene, victim: str) -> str:
    """A fresh top-up of the victim: its ledger entry is the newest of all, so every
    caller's whole history lies before it, just as before an id nobody has yet."""
    mine = scene.owned[victim]
    await admin.top_up_wallet(scene.db, mine.tenant, mine.customer, "NGN", Decimal(1))
    sql = "SELECT max(id) FROM ledger_entries WHERE wallet_id = :w"
    return encode_cursor("txe", await scalar(scene.db, sql, w=mine.wallet))


async def unused_entry_cursor(scene: Scene, _victim: str) -> str:
    newest = await scalar(scene.db, "SELECT max(id) FROM ledger_entries")
    return encode_cursor("txe", newest + 1000)


async def created_at(scene: Scene, kind: str, row_id: str) -> datetime:
    async with UnitOfWork(scene.db) as uow:
        if kind == "cus":
            customer = await uow.customers.get_by_ids([row_id])
            return customer[0].created_at
        payment = await uow.payments.get_by_ids([row_id])
        return payment[0].created_at


def position_cursor(kind: str, attribute: str) -> Pick:
    """The cursor of the victim's customer or payment."""

    async def pick(scene: Scene, victim: str) -> str:
        row_id = getattr(scene.owned[victim], attribute)
        return encode_position(kind, await created_at(scene, kind, row_id), row_id)

    return pick


def unused_position_cursor(kind: str, attribute: str) -> Pick:
    """A position just after the victim's row that no row has: every caller's rows lie
    on the same side of both."""

    async def pick(scene: Scene, victim: str) -> str:
        row_id = getattr(scene.owned[victim], attribute)
        at = await created_at(scene, kind, row_id) + timedelta(microseconds=1)
        return encode_position(kind, at, f"{kind}_{'0' * 24}")

    return pick


async def fresh_email(scene: Scene, _victim: str) -> str:
    return f"nobody-{scene.fresh()}@example.com"


async def fresh_key(scene: Scene, _victim: str) -> str:
    return f"fresh-key-{scene.fresh()}"


async def next_number(scene: Scene, victim: str) -> int:
    return scene.owned[victim].invoice_number + 7


def pay(**fields: Any) -> dict[str, Any]:
    return {"input": {"currency": "NGN", **fields}}


def ownership_mismatch_graphql() -> Answer:
    # Check.INVOICE_OWNERSHIP_MISMATCH: another customer's invoice of the same tenant.
    body = {
        "data": {
            "payInvoice": {
                "__typename": "InvoiceOwnershipMismatch",
                "code": "INVOICE_OWNERSHIP_MISMATCH",
                "message": "Customer Invoice does not match expected credentials",
                "number": "<identifier>",
            }
        }
    }
    return Answer(200, {"content-type": "application/json"}, body)


def ownership_mismatch_rest() -> Answer:
    # Check.INVOICE_OWNERSHIP_MISMATCH, REST form.
    headers = {
        "content-type": "application/json",
        "cache-control": "no-store",
        "ratelimit-limit": "100000",
        "x-error-code": "INVOICE_OWNERSHIP_MISMATCH",
    }
    body = {"message": "Customer Invoice does not match expected credentials"}
    return Answer(400, headers, body)


ID_ATTRIBUTE = {
    "Customer": "customer",
    "Wallet": "wallet",
    "Invoice": "invoice_id",
    "Payment": "payment",
    "Refund": "refund",
}
MISSING_ID = {
    "Customer": "cus",
    "Wallet": "wal",
    "Invoice": "inv",
    "Payment": "pay",
    "Refund": "ref",
}

PROBES: list[Probe] = [
    Probe(
        "Query.wallet.currency",
        graphql(WALLET, lambda _p, v: {"currency": v}),
        owned("currency"),
        constant(MISSING_CURRENCY),
    ),
    Probe(
        "Query.invoice.number",
        graphql(INVOICE, lambda _p, v: {"number": v}),
        owned("invoice_number"),
        constant(MISSING_NUMBER),
    ),
    Probe(
        "Query.invoices.after",
        graphql(INVOICES, lambda _p, v: {"after": v}),
        invoice_cursor,
        invoice_cursor_missing,
        control=None,  # a keyset cursor is a position: the owner's is no different
    ),
    Probe(
        "Query.customer.id",
        graphql(CUSTOMER, lambda _p, v: {"id": v}),
        owned("customer"),
        constant(f"cus_{'0' * 24}"),
    ),
    Probe(
        "Query.customers.after",
        graphql(CUSTOMERS, lambda _p, v: {"after": v}),
        position_cursor("cus", "customer"),
        unused_position_cursor("cus", "customer"),
        control=None,  # a keyset cursor is a position: the owner's is no different
    ),
    Probe(
        "Query.payments.after",
        graphql(PAYMENTS, lambda _p, v: {"after": v}),
        position_cursor("pay", "payment"),
        unused_position_cursor("pay", "payment"),
        control=None,  # a keyset cursor is a position: the owner's is no different
    ),
    Probe(
        "Query.payments.customerId",
        graphql(PAYMENTS, lambda _p, v: {"customerId": v}),
        owned("customer"),
        constant(f"cus_{'0' * 24}"),
    ),
    Probe(
        "Query.payments.invoiceNumber",
        graphql(PAYMENTS, lambda _p, v: {"invoiceNumber": v}),
        owned("invoice_number"),
        constant(MISSING_NUMBER),
    ),
    Probe(
        "Query.payment.id",
        graphql(PAYMENT, lambda _p, v: {"id": v}),
        owned("payment"),
        constant(f"pay_{'0' * 24}"),
    ),
    *[
        Probe(
            "Query.node.id",
            graphql(NODE, lambda _p, v: {"id": v}),
            owned(ID_ATTRIBUTE[kind]),
            constant(f"{MISSING_ID[kind]}_{'0' * 24}"),
            case=kind,
        )
        for kind in ID_ATTRIBUTE
    ],
    Probe(
        "Query.node.id",
        graphql(NODE, lambda _p, v: {"id": v}),
        owned("webhook_endpoint"),
        constant(MISSING_ENDPOINT),
        case="WebhookEndpoint",
        control="admin",
    ),
    *[
        Probe(
            argument,
            graphql(document, lambda _p, v: {"id": v}),
            owned("webhook_endpoint"),
            constant(MISSING_ENDPOINT),
            control="admin",
        )
        for argument, document in (
            ("Mutation.updateWebhookEndpoint.id", UPDATE_WEBHOOK),
            ("Mutation.rotateWebhookSecret.id", ROTATE_WEBHOOK),
            ("Mutation.deleteWebhookEndpoint.id", DELETE_WEBHOOK),
        )
    ],
    Probe(
        "Mutation.redeliverEvent.endpointId",
        redeliver(lambda s, p, v: {"endpointId": v, "eventId": own(s, p).event}),
        owned("webhook_endpoint"),
        constant(MISSING_ENDPOINT),
        control="admin",
    ),
    Probe(
        "Mutation.redeliverEvent.eventId",
        redeliver(lambda s, p, v: {"endpointId": own(s, p).webhook_endpoint, "eventId": v}),
        owned("event"),
        constant(MISSING_EVENT),
        control="admin",
    ),
    Probe(
        "Query.node.id",
        graphql(NODE, lambda _p, v: {"id": v}),
        owned("event"),
        constant(f"evt_{'0' * 24}"),
        case="Event",
        tenant_scoped=True,  # every admin of the tenant reads its events
        control="admin",
    ),
    Probe(
        "Query.events.after",
        graphql(EVENTS, lambda _p, v: {"after": v}),
        owned("event"),  # an event id is a cursor too
        constant(f"evt_{'0' * 24}"),
        tenant_scoped=True,
        control="admin",
        refusals=frozenset({"FORBIDDEN", "BAD_USER_INPUT"}),
    ),
    Probe(
        "Wallet.transactions.after",
        graphql(TRANSACTIONS, lambda p, v: {"wallet": p.wallet, "after": v}),
        newest_entry_cursor,
        unused_entry_cursor,
        control=None,  # a keyset cursor is a position: the owner's is no different
    ),
    Probe(
        "Mutation.payInvoice.input.invoiceNumber",
        graphql(PAY, lambda _p, v: pay(invoiceNumber=v)),
        owned("invoice_number"),
        constant(MISSING_NUMBER),
        same_tenant_answer=ownership_mismatch_graphql,
        same_tenant_variant=graphql(
            PAY, lambda _p, v: {"input": {"invoiceNumber": v, "currency": "USD"}}
        ),
    ),
    Probe(
        "Mutation.payInvoice.input.walletCurrency",
        graphql(
            PAY, lambda p, v: pay(invoiceNumber=p.invoice, walletCurrency=v, exchangeRate="1000")
        ),
        owned("currency"),
        constant(MISSING_CURRENCY),
    ),
    Probe(
        "Mutation.payInvoice.input.idempotencyKey",
        # A payment that goes through: only then would a shared key show (409 or a replay).
        graphql(PAY, lambda p, v: pay(invoiceNumber=p.invoice, amount="1", idempotencyKey=v)),
        owned("idempotency_key"),
        fresh_key,
        writes=True,
    ),
    Probe(
        "Mutation.payInvoice.input.cloneId",
        graphql(PAY, lambda p, v: pay(invoiceNumber=p.invoice, amount="1", cloneId=v)),
        owned("tenant"),
        constant(MISSING_CLONE),
        tenant_scoped=True,
    ),
    Probe(
        "Mutation.createCustomer.input.email",
        graphql(CREATE_CUSTOMER, lambda _p, v: {"input": {"name": "Eve", "email": v}}),
        owned("email"),
        fresh_email,
        writes=True,
        control="admin",
    ),
    Probe(
        "Mutation.createInvoice.input.customerId",
        graphql(
            CREATE_INVOICE,
            lambda _p, v: {
                "input": {"number": 7001, "customerId": v, "currency": "NGN", "total": "1"}
            },
        ),
        owned("customer"),
        constant(f"cus_{'0' * 24}"),
        control="admin",
    ),
    Probe(
        "Mutation.createInvoice.input.number",
        graphql(
            CREATE_INVOICE,
            lambda p, v: {
                "input": {"number": v, "customerId": p.customer, "currency": "NGN", "total": "1"}
            },
        ),
        owned("invoice_number"),
        next_number,
        writes=True,
        control="admin",
    ),
    Probe(
        "Mutation.topUpWallet.input.customerId",
        graphql(
            TOP_UP,
            lambda _p, v: {"input": {"customerId": v, "currency": "NGN", "amount": "10"}},
        ),
        owned("customer"),
        constant(f"cus_{'0' * 24}"),
        control="admin",
    ),
    Probe(
        "Mutation.voidInvoice.number",
        graphql(VOID, lambda _p, v: {"number": v}),
        owned("unpaid_number"),
        constant(MISSING_NUMBER),
        control="admin",
    ),
    Probe(
        "Mutation.refundPayment.input.paymentId",
        graphql(REFUND, lambda _p, v: {"input": {"paymentId": v, "amount": "0.01"}}),
        owned("payment"),
        constant(f"pay_{'0' * 24}"),
        control="admin",
    ),
    Probe(
        "Mutation.refundPayment.input.idempotencyKey",
        # A refund that goes through: only then would a shared key show (a reuse or a replay).
        graphql(
            REFUND,
            lambda p, v: {"input": {"paymentId": p.payment, "amount": "0.01", "idempotencyKey": v}},
        ),
        owned("refund_key"),
        fresh_key,
        writes=True,
        control="admin",
    ),
    Probe(
        "Mutation.revokeSession.jti",
        graphql(REVOKE, lambda _p, v: {"jti": v}),
        owned("jti"),
        constant(MISSING_JTI),
        control="admin",
    ),
    Probe(
        "REST body.invoice",
        rest(lambda _p, v: {"invoice": v, "currency": "NGN"}),
        owned("invoice_number"),
        constant(MISSING_NUMBER),
        same_tenant_answer=ownership_mismatch_rest,
        same_tenant_variant=rest(lambda _p, v: {"invoice": v, "currency": "USD"}),
    ),
    Probe(
        "REST body.cloneId",
        rest(
            lambda p, v: {
                "cloneId": v,
                "invoice": p.invoice,
                "currency": "NGN",
                "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1},
            }
        ),
        owned("tenant"),
        constant(MISSING_CLONE),
        tenant_scoped=True,
    ),
    Probe(
        "REST body.partPaymentFromWalletBalance.currency",
        rest(
            lambda p, v: {
                "invoice": p.invoice,
                "currency": "NGN",
                "partPaymentFromWalletBalance": {"currency": v, "exchangeRate": 1000},
            }
        ),
        owned("currency"),
        constant(MISSING_CURRENCY),
    ),
    Probe(
        "REST header.Idempotency-Key",
        rest(
            lambda p, _v: {
                "invoice": p.invoice,
                "currency": "NGN",
                "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1},
            },
            lambda v: {"Idempotency-Key": v},
        ),
        owned("idempotency_key"),
        fresh_key,
        writes=True,
        volatile=frozenset({"walletBalance", "balanceDue"}),
    ),
]


# --- coverage: the table against the schema and the OpenAPI document ------------------------

# Arguments of an identifier-like type (ID, Int, String) that name nothing anyone owns.
NOT_IDENTIFIERS = {
    "Query.invoices.first": "page size",
    "Query.customers.first": "page size",
    "Query.payments.first": "page size",
    "Wallet.transactions.first": "page size",
    "Query.events.first": "page size",
    "Query.events.types": "event type names",
    "Subscription.events.types": "event type names",
    "Mutation.payInvoice.input.currency": "ISO 4217 code, checked against the caller's invoice",
    "Mutation.payInvoice.input.reference": "free text stored on the payment",
    "Mutation.payInvoice.input.memo": "free text stored on the payment",
    "Mutation.payInvoice.input.accountingCode": "free text stored on the payment",
    "Mutation.createCustomer.input.name": "free text",
    "Mutation.refundPayment.input.reason": "free text stored on the refund",
    "Mutation.createWebhookEndpoint.input.url": "the caller's URL, checked against SSRF rules",
    "Mutation.createWebhookEndpoint.input.eventTypes": "event type names",
    "Mutation.createWebhookEndpoint.input.description": "free text",
    "Mutation.updateWebhookEndpoint.input.url": "the caller's URL, checked against SSRF rules",
    "Mutation.updateWebhookEndpoint.input.eventTypes": "event type names",
    "Mutation.updateWebhookEndpoint.input.description": "free text",
    "WebhookEndpoint.deliveries.first": "page size",
    "WebhookEndpoint.deliveries.after": "a position among the deliveries of the caller's own"
    " endpoint (only a tenant's own endpoints are ever listed)",
    "Mutation.createInvoice.input.currency": "ISO 4217 code of the new invoice",
    "Mutation.topUpWallet.input.currency": "ISO 4217 code; the wallet is created if missing",
    "Mutation.topUpWallet.input.reference": "free text stored on the ledger entry",
    "REST body.currency": "ISO 4217 code, checked against the caller's invoice",
    "REST body.reference": "free text stored on the payment",
    "REST body.memo": "free text stored on the payment",
    "REST body.accountingCode": "free text stored on the payment",
}
IDENTIFIER_SCALARS = {"ID", "Int", "String"}


def _input_paths(prefix: str, type_: GraphQLInputType) -> set[str]:
    named = get_named_type(type_)
    if isinstance(named, GraphQLInputObjectType):
        return {
            path
            for name, input_field in named.fields.items()
            for path in _input_paths(f"{prefix}.{name}", input_field.type)
        }
    if isinstance(named, GraphQLScalarType) and named.name in IDENTIFIER_SCALARS:
        return {prefix}
    return set()


def schema_identifier_arguments() -> tuple[set[str], set[str]]:
    """Every identifier-typed argument path of every field (roots and nested), and the
    types that implement Node, read from the schema the app serves."""
    schema = build_schema(app_schema.as_str())
    paths: set[str] = set()
    for type_name, named in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        for field_name, graphql_field in named.fields.items():
            for argument_name, argument in graphql_field.args.items():
                paths |= _input_paths(f"{type_name}.{field_name}.{argument_name}", argument.type)
    node = schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    nodes = {implementation.name for implementation in schema.get_possible_types(node)}
    return paths, nodes


def _json_schema_paths(prefix: str, node: dict[str, Any]) -> set[str]:
    kinds = node.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if "object" in kinds:
        return {
            path
            for name, child in node.get("properties", {}).items()
            for path in _json_schema_paths(f"{prefix}.{name}" if prefix else name, child)
        }
    return {prefix} if kinds & {"string", "integer"} else set()


def rest_identifier_arguments() -> set[str]:
    operation = openapi_document()["paths"][REST_PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    body = {f"REST body.{path}" for path in _json_schema_paths("", schema)}
    headers = {
        f"REST header.{parameter['name']}"
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }
    return body | headers


# Arguments probed over a websocket, by these tests of tests/api/graphql/test_subscriptions.py: the
# table's probes are HTTP requests, and a subscription runs only over a websocket.
SUBSCRIPTION_TESTS = Path(__file__).parent / "graphql" / "test_subscriptions.py"
PROBED_OVER_WEBSOCKETS = {
    "Subscription.invoiceUpdated.number": (
        "test_another_customers_invoice_is_answered_like_an_unknown_one"
    ),
    "Subscription.walletUpdated.currency": "test_a_customer_sees_only_its_own_wallet_change",
    "Subscription.events.after": "test_another_tenants_event_id_is_answered_like_an_unknown_one",
}


def test_every_identifier_argument_of_the_schema_has_a_probe() -> None:
    # given every identifier-typed argument the schema and the REST route take, but those
    # the subscription tests probe (which must exist there)
    graphql_paths, node_types = schema_identifier_arguments()
    assert set(PROBED_OVER_WEBSOCKETS) <= graphql_paths
    for test_name in PROBED_OVER_WEBSOCKETS.values():
        assert f"def {test_name}(" in SUBSCRIPTION_TESTS.read_text(), test_name
    candidates = (graphql_paths | rest_identifier_arguments()) - set(PROBED_OVER_WEBSOCKETS)
    # when the table's probes and the declared non-identifiers are set against them
    probed = {probe.argument for probe in PROBES}
    # then each is either probed or declared as naming nothing anyone owns, never both
    assert candidates - set(NOT_IDENTIFIERS) == probed, {
        "without a probe": sorted(candidates - set(NOT_IDENTIFIERS) - probed),
        "probed but not in the schema": sorted(probed - candidates),
    }
    assert set(NOT_IDENTIFIERS) <= candidates, sorted(set(NOT_IDENTIFIERS) - candidates)
    assert not probed & set(NOT_IDENTIFIERS)
    # and node(id) is probed with the id of every type that implements Node
    node_cases = {probe.case for probe in PROBES if probe.argument == "Query.node.id"}
    assert node_cases == node_types
    report(
        "isolation table",
        f"{len(probed)} identifier arguments in {len(PROBES)} probes, {len(PAIRS)} caller/victim"
        f" pairs each; {len(NOT_IDENTIFIERS)} arguments declared not identifiers",
    )


# --- the table, run ----------------------------------------------------------------------------


VICTIM_TABLES = (
    "customers",
    "wallets",
    "invoices",
    "payments",
    "refunds",
    "ledger_entries",
    "sessions",
)


async def victim_rows(db: Database, owned_by: Owned, *, whole_tenant: bool) -> dict[str, Any]:
    """Every row of the victim: its whole tenant when asked from another tenant."""
    rows: dict[str, list[dict[str, Any]]] = {}
    async with db.engine.connect() as connection:
        for table in VICTIM_TABLES:
            result = await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            rows[table] = [dict(row) for row in result.mappings().all()]
    wallets = {w["id"] for w in rows["wallets"] if w["customer_id"] == owned_by.customer}

    def theirs(table: str, row: dict[str, Any]) -> bool:
        if whole_tenant:
            return bool(row["tenant_id"] == owned_by.tenant)
        owner = {"customers": "id", "sessions": "subject"}.get(table, "customer_id")
        if table == "ledger_entries":
            return row["wallet_id"] in wallets
        return bool(row[owner] == owned_by.customer)

    return {
        table: sorted((row for row in table_rows if theirs(table, row)), key=str)
        for table, table_rows in rows.items()
    }


async def run_pair(
    client: httpx.AsyncClient, scene: Scene, probe: Probe, caller_name: str, victim_name: str
) -> None:
    caller = scene.parties[caller_name]
    victim = scene.owned[victim_name]
    same_tenant = caller.tenant == victim.tenant
    where = (probe.name, caller_name, victim_name)
    theirs = await probe.theirs(scene, victim_name)
    missing = await probe.missing(scene, victim_name)

    async def state() -> dict[str, Any]:
        if probe.writes:
            return await victim_rows(scene.db, victim, whole_tenant=not same_tenant)
        return await snapshot_all(scene.db)

    before = await state()
    # when the caller asks with their identifier, and with one that does not exist
    their_answer = await probe.call(client, scene, caller, theirs)
    missing_answer = await probe.call(client, scene, caller, missing)
    after = await state()

    def normalised(answer: Answer, identifier: object) -> Answer:
        assert_well_formed(answer, where, probe.refusals)
        return normal(answer, identifier, writes=probe.writes, volatile=probe.volatile)

    if same_tenant and not caller.is_admin and probe.same_tenant_answer is not None:
        # then the one answer the contract names for another customer's invoice, which
        # says nothing of it: not even its currency
        assert normalised(their_answer, theirs) == probe.same_tenant_answer(), where
        assert probe.same_tenant_variant is not None
        other_currency = await probe.same_tenant_variant(client, scene, caller, theirs)
        assert normalised(other_currency, theirs) == probe.same_tenant_answer(), where
        assert normalised(missing_answer, missing) != probe.same_tenant_answer(), where
    else:
        # then both answers are the same
        assert normalised(their_answer, theirs) == normalised(missing_answer, missing), where
    # and nothing of theirs was written (nothing at all, unless the probe creates rows)
    assert after == before, where


async def run_control(client: httpx.AsyncClient, scene: Scene, probe: Probe) -> None:
    """The owner of each identifier does get something else than "missing" with it."""
    for victim_name in ("ada", "sam"):
        owner_name = (OWNING_ADMIN if probe.control == "admin" else OWNER)[victim_name]
        owner = scene.parties[owner_name]
        theirs = await probe.theirs(scene, victim_name)
        missing = await probe.missing(scene, victim_name)
        own_answer = await probe.call(client, scene, owner, theirs)
        missing_answer = await probe.call(client, scene, owner, missing)
        assert normal(own_answer, theirs, writes=False, volatile=probe.volatile) != normal(
            missing_answer, missing, writes=False, volatile=probe.volatile
        ), (probe.name, owner_name, own_answer, missing_answer)


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.name)
async def test_anothers_identifier_is_answered_as_a_missing_one(db: Database, probe: Probe) -> None:
    # given two tenants, with customers, wallets, invoices, payments, keys and sessions
    scene = await given_two_tenants(db)
    async with client_for(db) as client:
        for caller_name, victim_name in PAIRS:
            if probe.tenant_scoped and scene.parties[caller_name].tenant == (
                scene.owned[victim_name].tenant
            ):
                continue
            await run_pair(client, scene, probe, caller_name, victim_name)
        # and the probe is not vacuous: its owner is answered otherwise
        if probe.control is not None:
            await run_control(client, scene, probe)
