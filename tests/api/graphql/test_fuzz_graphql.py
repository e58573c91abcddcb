"""Schemathesis fuzzes every root field of the GraphQL schema at /graphql in-process, on
both backends: queries and mutations generated from the schema (hypothesis-graphql), valid
and invalid, sent by customers, admins and (for the refusals) nobody. No answer is a 500,
none carries a masked "Unexpected Error" (or any error without a client code), and every
answer is a well-formed GraphQL response that keeps the schema's non-null promises.

Arguments that name something (invoice numbers, currencies, customer, node and payment
ids, session ids, the tenant) are drawn from the seeded world most of the time
(schemathesis dictionaries), so the generated documents reach the services instead of
stopping at "not found". Ids only exist once the world is seeded: the dictionaries hold
`@name` placeholders that the test replaces with the real ids (tests/support/fuzz_world.py). Half
the payments leave out the arguments that refuse almost any generated value and name an
amount, so payments go through too and their answers are checked as well.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.graphql import nodes
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.applications import Starlette

from app.api.graphql.schema import schema as graphql_schema
from app.http.request_context import UNEXPECTED_ERROR
from app.web import create_app
from tests.support import DEMO_CLONE, OTHER_CLONE, fuzz_world
from tests.support import test_settings as settings_for
from tests.support.fuzz_world import (
    CURRENCIES,
    FORGED,
    INVOICES,
    LONGEST_EMAIL,
    NOBODY,
    Books,
    Case,
    Tally,
)

URL = "http://testserver/graphql"
# The codes of every error meant for the client (app/api/graphql/context.py, limits.py,
# cost.py, payment_gate.py). A masked failure has INTERNAL_SERVER_ERROR; an error with no code or
# another one is no answer we designed, so it fails the run as well.
CLIENT_CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "RATE_LIMITED",
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_COMPLEX",  # a generated document asking for more than GRAPHQL_MAX_COST
}

# --- what the generated documents hold ---------------------------------------------------


# Decimal: mostly amounts as a payer writes them; then any shape the scalar accepts (up to
# 24 integer and 16 fractional digits, zero and negatives too); then anything else a client
# could send instead.
def _decimal(units: int, places: int) -> str:
    return format(Decimal(units).scaleb(-places), "f")


MONEY = st.builds(_decimal, st.integers(1, 10**6), st.sampled_from([2, 0, 1, 3]))
SHAPES = st.builds(_decimal, st.integers(-(10**24) + 1, 10**24 - 1), st.integers(0, 16))
NOT_DECIMALS = st.one_of(
    st.builds(_decimal, st.integers(), st.integers(17, 40)),
    st.decimals().map(str),
    st.text(max_size=40),
)
DECIMALS = st.integers(0, 9).flatmap(
    lambda draw: MONEY if draw < 7 else SHAPES if draw < 9 else NOT_DECIMALS
)


# DateTime: with any fixed offset (or none), across the whole calendar, at its very edges
# (where the same instant in UTC falls outside it), or not a date at all.
def _zone(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


ZONES = st.none() | st.integers(-23 * 60 - 59, 23 * 60 + 59).map(_zone)
EDGES = st.one_of(
    st.integers(1, 23 * 60 + 59).map(lambda ahead: datetime.min.replace(tzinfo=_zone(ahead))),
    st.integers(1, 23 * 60 + 59).map(lambda behind: datetime.max.replace(tzinfo=_zone(-behind))),
)
DATETIMES = st.integers(0, 9).flatmap(
    lambda draw: (
        st.datetimes(timezones=ZONES).map(datetime.isoformat)
        if draw < 6
        else EDGES.map(datetime.isoformat)
        if draw < 9
        else st.text(max_size=40)
    )
)
schemathesis.graphql.scalar("Decimal", DECIMALS.map(nodes.String))
schemathesis.graphql.scalar("DateTime", DATETIMES.map(nodes.String))

PLACEHOLDER = re.compile(r'"@([a-z_0-9]+)"')
DICTIONARIES = {
    "invoices": [number for number, _ in INVOICES] + [fuzz_world.ELSEWHERE],
    # Drawn at random, the first value most: most invoices, and Ada's largest wallet, are in
    # NGN. (So is the first invoice, 2: larger than any wallet, it stays open all run long.)
    "currencies": ["NGN", "NGN", "NGN", *CURRENCIES],
    "clones": [DEMO_CLONE, OTHER_CLONE],
    "customers": ["@ada", "@bola", "@stranger"],
    "nodes": [
        "@ada",
        "@ada_wallet",
        "@ada_invoice",
        "@ada_payment",
        "@bola",
        "@bola_invoice",
        "@stranger",
        "@stranger_wallet",
        "@stranger_invoice",
    ],
    "sessions": ["@spare_session_1", "@spare_session_2"],
    # New, taken once lower-cased, and the longest address app/billing/admin.py's pattern admits.
    "emails": ["new@example.com", "Ada@Example.com", LONGEST_EMAIL],
    "keys": ["key-1", "key-2"],
}
BINDINGS = {
    "Query.invoice.number": ("invoices", 0.8),
    "Query.wallet.currency": ("currencies", 0.8),
    "Query.payment.id": ("nodes", 0.8),
    "Query.node.id": ("nodes", 0.8),
    "Mutation.payInvoice.input.invoiceNumber": ("invoices", 0.8),
    "Mutation.payInvoice.input.currency": ("currencies", 0.8),
    "Mutation.payInvoice.input.walletCurrency": ("currencies", 0.8),
    "Mutation.payInvoice.input.cloneId": ("clones", 0.8),
    "Mutation.payInvoice.input.idempotencyKey": ("keys", 0.2),
    "Mutation.createCustomer.input.email": ("emails", 0.6),
    "Mutation.*.input.customerId": ("customers", 0.8),
    "Mutation.*.input.currency": ("currencies", 0.8),
    "Mutation.voidInvoice.number": ("invoices", 0.8),
    "Mutation.revokeSession.jti": ("sessions", 0.8),
}
CONFIG = schemathesis.Config.from_dict(
    {
        "dictionaries": {name: {"values": values} for name, values in DICTIONARIES.items()},
        "parameters": {
            key: {"dictionary": name, "probability": probability}
            for key, (name, probability) in BINDINGS.items()
        },
    }
)

# The schema the app serves, in-process (the SDL `make schema` exports, introspected),
# loaded at import for `schema.parametrize()` (tests/api/rest/test_fuzz_rest.py says why).
schema = schemathesis.graphql.from_dict(
    dict(graphql.introspection_from_schema(graphql.build_schema(graphql_schema.as_str()))),
    config=CONFIG,
)

# --- checks -----------------------------------------------------------------------------


def _errors(response: schemathesis.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []  # response_schema_conformance reports a body that is not JSON
    errors = body.get("errors") if isinstance(body, dict) else None
    return [error for error in errors or [] if isinstance(error, dict)]


@schemathesis.check
def no_unexpected_errors(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """No 5xx, and no error the client did not cause: masked failures ("Unexpected Error",
    INTERNAL_SERVER_ERROR) answer 200 in GraphQL, so the status alone would hide them."""
    assert response.status_code < 500, f"status {response.status_code}: {response.text[:500]}"
    unexpected = [
        error
        for error in _errors(response)
        if error.get("message") == UNEXPECTED_ERROR
        or (error.get("extensions") or {}).get("code") not in CLIENT_CODES
    ]
    assert not unexpected, f"errors the client did not cause: {unexpected}"
    return None


@schemathesis.check
def refused(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """Nothing is answered to a sender who may not ask: an error, and no data."""
    assert _errors(response), f"answered without an error: {response.text[:500]}"
    data = response.json().get("data")
    assert not data or all(value is None for value in data.values()), response.text[:500]
    return None


CHECKS = [not_a_server_error, no_unexpected_errors, response_schema_conformance]

# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """conftest's `database_url`, once per module: every root field is fuzzed against the
    same world (seeding one per root field would take longer than the fuzzing)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("fuzz") / "graphql.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(fuzz_world.truncate(url))
    return url


@pytest.fixture(scope="module")
def books(world_url: str) -> Iterator[Books]:
    yield from fuzz_world.seeded(world_url, "schemathesis GraphQL")


@pytest.fixture(scope="module")
def app(world_url: str, books: Books) -> Iterator[Starlette]:
    # No `db=`: the app opens its engine on the loop schemathesis serves requests on.
    app = create_app(settings_for(world_url))
    yield app
    shutdown_lifespans()


@pytest.fixture(scope="module")
def tallies(world_url: str) -> Iterator[dict[str, Tally]]:
    tallies: dict[str, Tally] = {}
    yield tallies
    for name, tally in tallies.items():
        tally.report(f"schemathesis GraphQL, {name} ({fuzz_world.backend(world_url)})")


@pytest.fixture
def tally(request: pytest.FixtureRequest, tallies: dict[str, Tally]) -> Iterator[Tally]:
    tally = tallies.setdefault(request.function.__name__.removeprefix("test_"), Tally())
    with tally.timed():
        yield tally


def _real_id(books: Books, placeholder: re.Match[str]) -> str:
    """The id a placeholder stands for (left alone: a generated string that looks like one)."""
    real = books.ids.get(placeholder.group(1))
    return placeholder.group(0) if real is None else json.dumps(real)


def send(
    case: Case,
    app: Starlette,
    books: Books,
    tally: Tally,
    checks: list[Any] = CHECKS,
    default: str = "ada",
) -> None:
    """Sign `case`, put the world's ids in place of its placeholders, send and check it."""
    who = fuzz_world.sign(case, books, default)
    if isinstance(case.body, str):
        case.body = PLACEHOLDER.sub(lambda m: _real_id(books, m), case.body)
    response = case.call_and_validate(base_url=URL, app=app, checks=checks)
    codes = {(e.get("extensions") or {}).get("code", "") for e in _errors(response)}
    tally.count(case, who, " ".join(sorted(codes)) or "data")


def fuzzing(examples: int) -> settings:
    """`examples` generated cases per root field, the same ones on every run."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        # `tally` is function-scoped only to know its test's name; it just counts.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# --- the suites -------------------------------------------------------------------------

# Admin-only queries: a customer's token is FORBIDDEN there (test_refusals sends them).
ADMIN_QUERIES = ("Query.customers", "Query.events", "Query.webhookEndpoints")
queries = schema.include(name_regex=r"^Query\.")
for name in ADMIN_QUERIES:
    queries = queries.exclude(name=name)
admin_queries = schema.include(name_regex="^(" + "|".join(ADMIN_QUERIES) + ")$")


@queries.hooks.apply(
    fuzz_world.sent_by("ada", "admin", "bola", "stranger", "other_admin"), name="flatmap_case"
)
@queries.parametrize()
@fuzzing(30)
def test_queries(case: Case, app: Starlette, books: Books, tally: Tally) -> None:
    send(case, app, books, tally)


@admin_queries.hooks.apply(
    fuzz_world.sent_by("admin", "admin_2", "other_admin"), name="flatmap_case"
)
@admin_queries.parametrize()
@fuzzing(30)
def test_admin_queries(case: Case, app: Starlette, books: Books, tally: Tally) -> None:
    send(case, app, books, tally, default="admin")


payments = schema.include(name="Mutation.payInvoice")
# Each alone refuses nearly any generated value: a rate must be 1 between equal currencies,
# the expected balance exact, the discount applicable.
GUARDS = {"exchangeRate", "expectedBalanceDue", "applyEarlyPaymentDiscount"}


def _amount_field(amount: str) -> graphql.ObjectFieldNode:
    return graphql.ObjectFieldNode(
        name=graphql.NameNode(value="amount"), value=graphql.StringValueNode(value=amount)
    )


def _payable(document: graphql.DocumentNode, amount: str) -> graphql.DocumentNode:
    """`document` with no GUARDS in its input, and an amount (the one given if it has one)."""

    class Payable(graphql.Visitor):
        def enter_object_value(self, node: graphql.ObjectValueNode, *_args: Any) -> Any:
            fields = [field for field in node.fields if field.name.value not in GUARDS]
            if not any(field.name.value == "amount" for field in fields):
                fields.append(_amount_field(amount))
            return graphql.ObjectValueNode(fields=tuple(fields))

    result: graphql.DocumentNode = graphql.visit(document, Payable())
    return result


def payable(_context: schemathesis.HookContext, body: Any) -> Any:
    """A `flatmap_body` hook: half the payment documents leave the GUARDS out and name an
    amount (a payment of a whole invoice 2 could never go through), so more payments are
    made and their answers (PayInvoiceSuccess) checked too."""
    if not isinstance(body, graphql.DocumentNode):
        return st.just(body)
    return st.one_of(MONEY.map(lambda amount: _payable(body, amount)), st.just(body))


@payments.hooks.apply(payable, name="flatmap_body")
@payments.hooks.apply(
    # The gate refuses nobody and the forger before any resolver: a client error.
    fuzz_world.sent_by("ada", "ada", "bola", "admin", "stranger", NOBODY, FORGED),
    name="flatmap_case",
)
@payments.parametrize()
@fuzzing(300)
def test_payments(case: Case, app: Starlette, books: Books, tally: Tally) -> None:
    send(case, app, books, tally)


admin_mutations = schema.include(name_regex=r"^Mutation\.").exclude(name="Mutation.payInvoice")


@admin_mutations.hooks.apply(
    fuzz_world.sent_by("admin", "admin_2", "other_admin"), name="flatmap_case"
)
@admin_mutations.parametrize()
@fuzzing(30)
def test_admin_mutations(case: Case, app: Starlette, books: Books, tally: Tally) -> None:
    send(case, app, books, tally, default="admin")


def refused_senders(_context: schemathesis.HookContext, case: Case) -> Any:
    """A `flatmap_case` hook: who may not send this case (nobody, a forger, and for an
    admin mutation a customer of the tenant or of another)."""
    senders = [NOBODY, FORGED]
    label = case.operation.label
    if (label.startswith("Mutation.") and label != "Mutation.payInvoice") or (
        label in ADMIN_QUERIES
    ):
        senders += ["ada", "stranger"]
    return st.sampled_from(senders).map(lambda who: fuzz_world.mark(case, who))


@schema.hooks.apply(refused_senders, name="flatmap_case")
@schema.parametrize()
@fuzzing(10)
def test_refusals(case: Case, app: Starlette, books: Books, tally: Tally) -> None:
    # Without `not_a_server_error`, a false positive here: schemathesis takes an error
    # raised in a resolver (it has a `path`) for a server failure unless its code marks it
    # as the client's, and it leaves authentication and authorisation codes out of those on
    # purpose. Resolvers refusing with UNAUTHENTICATED or FORBIDDEN is what this test
    # expects; `no_unexpected_errors` still fails it on any 5xx, masked or uncoded error.
    send(case, app, books, tally, [no_unexpected_errors, refused, response_schema_conformance])
