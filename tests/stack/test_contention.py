"""payInvoice under contention through the whole HTTP stack: real `invoicepay serve`
processes on loopback ports, hundreds of concurrent requests over TCP, on both backends.

One wallet is never overdrawn, one invoice never overpaid, one idempotency key executes
once (GraphQL and REST), and a mixed load of both edges (from two instances on one
PostgreSQL database, from one on SQLite) deadlocks nowhere and keeps every book
straight. No client ever sees a 5xx, a top-level error or `database is locked`. Each test
asserts its figures exactly, then reports them (tests/support/figures.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from sqlalchemy import text

from app.billing import admin
from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    PAY,
    REST_PAY,
    WalletBooks,
    invoice,
    ledger_imbalances,
    rest_pay,
    snapshot,
    token_for,
    wallet_books,
)
from tests.support.answers import ask
from tests.support.deadlocks import settled_deadlocks
from tests.support.figures import report
from tests.support.live import LiveServer, server_env

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

# A burst finishes in seconds; a hang (a lost lock, a pool never given back) fails it.
BOUND_SECONDS = 60
# The mixed load runs this long (the whole file stays near a minute and a half).
LOAD_SECONDS = {"postgresql": 8, "sqlite": 6}
LOAD_CLIENTS = 32
EXPONENT = {"NGN": 2, "USD": 2}
# Cross-currency rates (invoice-currency units bought by one wallet-currency unit).
NGN_PER_USD = 1500
USD_PER_NGN = Decimal("0.0005")
# The domain errors a mixed load may meet; anything else is a failure.
EXPECTED_REFUSALS = {"INSUFFICIENT_FUNDS", "WRONG_AMOUNT", "INVOICE_ALREADY_PAID"}


T = TypeVar("T")


def to_major(minor: int) -> Decimal:
    """NGN (or USD) minor units as the amount a client reads, e.g. 3700 → 37.00."""
    return Decimal(minor).scaleb(-2)


def backend(db: Database) -> str:
    return "sqlite" if db.is_sqlite else "postgresql"


@dataclass(frozen=True)
class Payer:
    id: str
    token: str


async def payer(db: Database, name: str, **balances: str) -> Payer:
    """A customer of the demo tenant with a funded wallet per keyword (NGN="37.00")."""
    email = name.lower().replace(" ", ".") + "@example.com"
    customer = await admin.create_customer(db, DEMO_CLONE, name, email)
    for currency, amount in balances.items():
        await admin.top_up_wallet(db, DEMO_CLONE, customer.id, currency, Decimal(amount))
    return Payer(customer.id, await token_for(db, DEMO_CLONE, customer.id))


@asynccontextmanager
async def served(
    db: Database, logs: Path, world: Awaitable[T], instances: int = 1
) -> AsyncIterator[tuple[list[LiveServer], T]]:
    """`instances` real servers on the test database (each with its own connection pool),
    started while `world` is built (they touch the database only once asked), and the
    world built. The servers stop together at the end."""
    servers = [
        LiveServer(server_env(db.url), logs / f"app{n}.log", workers=1) for n in range(instances)
    ]
    built = asyncio.ensure_future(world)
    try:
        await asyncio.gather(built, *(server.start() for server in servers))
        yield servers, built.result()
    finally:
        built.cancel()  # (only if a server failed to start while the world was built)
        await asyncio.gather(*(server.stop() for server in servers))


async def balance_trail(db: Database, customer_id: str, currency: str) -> list[int]:
    """The wallet's balance after each of its ledger entries, in the order they were written."""
    sql = (
        "SELECT e.balance_after FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id"
        " WHERE w.customer_id = :customer AND w.currency = :currency ORDER BY e.id"
    )
    params = {"customer": customer_id, "currency": currency}
    async with db.engine.connect() as connection:
        return [int(row[0]) for row in (await connection.execute(text(sql), params)).all()]


@dataclass(frozen=True)
class InvoiceBooks:
    """An invoice as stored beside its payments (minor units)."""

    total: int
    amount_paid: int
    status: str
    payments_sum: int
    payments: int


async def invoice_books(db: Database) -> dict[int, InvoiceBooks]:
    sql = (
        "SELECT i.number, i.total, i.amount_paid, i.status, coalesce(sum(p.amount), 0),"
        " count(p.id) FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id"
        " GROUP BY i.number, i.total, i.amount_paid, i.status"
    )
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text(sql))).all()
    return {
        int(number): InvoiceBooks(int(total), int(paid), str(status), int(summed), int(count))
        for number, total, paid, status, summed, count in rows
    }


# --- 1. one wallet, many invoices ---


async def test_two_hundred_racing_payments_spend_a_wallet_of_37_to_exactly_zero(
    db: Database, tmp_path: Path
) -> None:
    # given Ada's NGN wallet of exactly 37.00 and 200 invoices of 1.00 each
    numbers = range(1000, 1200)

    async def world() -> Payer:
        await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
        ada = await payer(db, "Ada Obi", NGN="37.00")
        for number in numbers:
            await invoice(db, number, ada.id, "1.00")
        return ada

    async with served(db, tmp_path, world()) as ([server], ada), server.client() as client:
        # when she pays all 200 at once over GraphQL
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(
                *(
                    ask(client, PAY, ada.token, {"invoiceNumber": n, "currency": "NGN"})
                    for n in numbers
                )
            )
    # then exactly 37 succeed and 163 find the wallet empty (not merely short): no 5xx
    outcomes = Counter(answer["__typename"] for answer in answers)
    assert outcomes == {"PayInvoiceSuccess": 37, "InsufficientFunds": 163}
    refusals = {
        (Decimal(answer["balance"]["amount"]), Decimal(answer["required"]["amount"]))
        for answer in answers
        if answer["__typename"] == "InsufficientFunds"
    }
    assert refusals == {(Decimal(0), Decimal(1))}
    # and the wallet went from 37.00 to 0.00 one unit at a time, never below zero
    books = await wallet_books(db, ada.id, "NGN")
    assert books == WalletBooks(balance=0, ledger_sum=0, lowest_balance_after=0, entries=38)
    assert await balance_trail(db, ada.id, "NGN") == [3700 - 100 * i for i in range(38)]
    # and exactly the 37 invoices answered as paid are PAID, each by one payment of 1.00
    paid = {
        number
        for number, answer in zip(numbers, answers, strict=True)
        if answer["__typename"] == "PayInvoiceSuccess"
    }
    stored = await invoice_books(db)
    assert {number for number, books in stored.items() if books.status == "PAID"} == paid
    assert all(stored[number] == InvoiceBooks(100, 100, "PAID", 100, 1) for number in paid)
    assert (await snapshot(db))["payments"] == [(37,)]
    assert await ledger_imbalances(db) == []
    report(
        f"contention[{backend(db)}] 200 racing payInvoice of 1.00, one wallet of 37.00",
        f"{outcomes['PayInvoiceSuccess']} PayInvoiceSuccess,"
        f" {outcomes['InsufficientFunds']} InsufficientFunds (balance 0.00), 0 other;"
        f" final balance {to_major(books.balance)},"
        f" lowest balance_after {to_major(books.lowest_balance_after)}",
    )


# --- 2. one invoice, many partial payments ---


async def test_fifty_racing_payments_of_3_never_overpay_an_invoice_of_100(
    db: Database, tmp_path: Path
) -> None:
    # given Ada's invoice of 100.00 NGN and her NGN wallet of 1000.00
    async def world() -> Payer:
        await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
        ada = await payer(db, "Ada Obi", NGN="1000.00")
        await invoice(db, 4242, ada.id, "100.00")
        return ada

    graphql_request = {"invoiceNumber": 4242, "currency": "NGN", "amount": "3.00"}
    rest_body = {
        "invoice": 4242,
        "currency": "NGN",
        "partPaymentFromWalletBalance": {"chargeTotalCurrent": 3},
    }
    async with served(db, tmp_path, world()) as ([server], ada), server.client() as client:
        # when 50 payments of 3.00 arrive at once, half over GraphQL and half over REST
        async with asyncio.timeout(BOUND_SECONDS):
            graphql_answers, rest_answers = await asyncio.gather(
                asyncio.gather(*(ask(client, PAY, ada.token, graphql_request) for _ in range(25))),
                asyncio.gather(*(rest_pay(client, rest_body, ada.token) for _ in range(25))),
            )
    # then 33 succeed (a 34th would exceed the balance due), and the other 17 are
    # WrongAmount / EXCEEDS_BALANCE_DUE with 1.00 left to pay (REST: 400 Wrong Amount)
    graphql_outcomes = Counter(
        (answer["__typename"], answer.get("reason"), answer.get("balanceDue", {}).get("amount"))
        for answer in graphql_answers
    )
    rest_outcomes = Counter(
        (response.status_code, response.json().get("message"), response.headers.get("x-error-code"))
        for response in rest_answers
    )
    graphql_paid = graphql_outcomes.pop(("PayInvoiceSuccess", None, None), 0)
    rest_paid = rest_outcomes.pop((200, "Invoice payment successful", None), 0)
    assert (graphql_paid + rest_paid, graphql_outcomes, rest_outcomes) == (
        33,
        Counter({("WrongAmount", "EXCEEDS_BALANCE_DUE", "1.00"): 25 - graphql_paid}),
        Counter({(400, "Wrong Amount", "WRONG_AMOUNT"): 25 - rest_paid}),
    )
    # and every success settled exactly 3.00
    settled = {
        Decimal(answer["payment"]["amount"]["amount"])
        for answer in graphql_answers
        if answer["__typename"] == "PayInvoiceSuccess"
    } | {Decimal(str(r.json()["amountPaid"])) for r in rest_answers if r.status_code == 200}
    assert settled == {Decimal(3)}
    # and each REST success saw its own balance due, a step of 3.00 below another
    dues = [Decimal(str(r.json()["balanceDue"])) for r in rest_answers if r.status_code == 200]
    assert len(set(dues)) == len(dues)
    assert set(dues) <= {Decimal(100 - 3 * step) for step in range(1, 34)}
    # and the invoice has 99.00 paid by 33 payments, the wallet 99.00 less, step by step
    assert (await invoice_books(db))[4242] == InvoiceBooks(10000, 9900, "PARTIALLY_PAID", 9900, 33)
    assert await balance_trail(db, ada.id, "NGN") == [100000 - 300 * i for i in range(34)]
    assert await ledger_imbalances(db) == []
    refused = graphql_outcomes.total() + rest_outcomes.total()
    report(
        f"contention[{backend(db)}] 50 racing payments of 3.00 on an invoice of 100.00",
        f"{graphql_paid + rest_paid} paid, {refused} WrongAmount/EXCEEDS_BALANCE_DUE"
        " (REST: 400 Wrong Amount), 0 other; amount paid 99.00 of 100.00",
    )


# --- 3. one idempotency key, many requests ---


async def test_fifty_racing_requests_with_one_key_execute_once_on_each_edge(
    db: Database, tmp_path: Path
) -> None:
    # given Ada's invoices 7000 and 7001 of 150.00 NGN each and her NGN wallet of 500.00
    async def world() -> Payer:
        await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
        ada = await payer(db, "Ada Obi", NGN="500.00")
        await invoice(db, 7000, ada.id, "150.00")
        await invoice(db, 7001, ada.id, "150.00")
        return ada

    graphql_request = {
        "invoiceNumber": 7000,
        "currency": "NGN",
        "amount": "50.00",
        "idempotencyKey": "graphql-race-key",
    }
    rest_body = {
        "invoice": 7001,
        "currency": "NGN",
        "partPaymentFromWalletBalance": {"chargeTotalCurrent": 50},
    }
    async with served(db, tmp_path, world()) as ([server], ada), server.client() as client:
        async with asyncio.timeout(BOUND_SECONDS):
            # when 50 identical GraphQL requests to pay 50.00 of 7000 with one key race
            answers = await asyncio.gather(
                *(ask(client, PAY, ada.token, graphql_request) for _ in range(50))
            )
            # and then 50 identical REST requests to pay 50.00 of 7001 with another key
            responses = await asyncio.gather(
                *(
                    rest_pay(client, rest_body, ada.token, Idempotency_Key="rest-race-key")
                    for _ in range(50)
                )
            )
    # then every GraphQL request got the same payment, all but one marked as replays
    assert Counter(answer["__typename"] for answer in answers) == {"PayInvoiceSuccess": 50}
    graphql_payments = {answer["payment"]["id"] for answer in answers}
    graphql_replays = Counter(answer["replayed"] for answer in answers)
    assert (len(graphql_payments), graphql_replays) == (1, {False: 1, True: 49})
    # and every REST request got the same answer, 49 with `Idempotent-Replayed: true`
    assert Counter(response.status_code for response in responses) == {200: 50}
    assert len({response.content for response in responses}) == 1
    rest_payments = {response.json()["paymentId"] for response in responses}
    rest_replays = Counter(
        response.headers.get("idempotent-replayed") == "true" for response in responses
    )
    assert (len(rest_payments), rest_replays) == (1, {False: 1, True: 49})
    # and exactly one payment row exists per key: each invoice and the wallet moved once
    assert (await snapshot(db))["payments"] == [(2,)]
    stored = await invoice_books(db)
    assert stored[7000] == stored[7001] == InvoiceBooks(15000, 5000, "PARTIALLY_PAID", 5000, 1)
    assert await balance_trail(db, ada.id, "NGN") == [50000, 45000, 40000]
    for edge, payments, replays in [
        ("GraphQL", graphql_payments, graphql_replays),
        ("REST", rest_payments, rest_replays),
    ]:
        report(
            f"contention[{backend(db)}] 50 racing {edge} requests with one idempotency key",
            f"{len(payments)} payment row, {replays[False]} executed, {replays[True]} replayed",
        )


# --- 4. a mixed load of both edges ---


@dataclass(frozen=True)
class Bill:
    number: int
    owner: Payer
    currency: str


@dataclass(frozen=True)
class Attempt:
    """One payment request, whichever edge carries it; amounts in minor units."""

    bill: Bill
    wallet_currency: str
    amount: int | None  # None: the whole balance due
    key: str | None

    def debit(self, settled: int) -> int:
        """The wallet debit for `settled` invoice minor units, rounded up (docs/design.md)."""
        if self.wallet_currency == self.bill.currency:
            return settled
        if self.bill.currency == "NGN":  # paid from USD at 1500 NGN per USD, rounded up
            return -(-settled // NGN_PER_USD)
        return settled * int(1 / USD_PER_NGN)  # USD paid from NGN at 0.0005 USD per NGN

    def rate(self) -> Decimal | None:
        if self.wallet_currency == self.bill.currency:
            return None
        return Decimal(NGN_PER_USD) if self.bill.currency == "NGN" else USD_PER_NGN

    def major(self) -> Decimal | None:
        if self.amount is None:
            return None
        return Decimal(self.amount).scaleb(-EXPONENT[self.bill.currency])


@dataclass(frozen=True)
class Outcome:
    """What the client saw: `code` is PAID or the domain error's code."""

    code: str
    payment_id: str | None = None
    settled: int = 0
    replayed: bool | None = None  # None: the answer does not say (a GraphQL union error)


class Unexpected(Exception):
    """An answer no client may ever see (a 5xx, a top-level error, an unknown shape)."""


def minor(amount: Any, currency: str) -> int:
    return int(Decimal(str(amount)).scaleb(EXPONENT[currency]))


async def via_graphql(client: httpx.AsyncClient, attempt: Attempt) -> Outcome:
    request: dict[str, Any] = {
        "invoiceNumber": attempt.bill.number,
        "currency": attempt.bill.currency,
        "walletCurrency": attempt.wallet_currency,
    }
    if (amount := attempt.major()) is not None:
        request["amount"] = str(amount)
    if (rate := attempt.rate()) is not None:
        request["exchangeRate"] = str(rate)
    if attempt.key is not None:
        request["idempotencyKey"] = attempt.key
    answer = await ask(client, PAY, attempt.bill.owner.token, request)
    if answer["__typename"] != "PayInvoiceSuccess":
        if "code" not in answer:
            raise Unexpected(f"graphql {answer['__typename']}")
        return Outcome(answer["code"])  # a union error does not say whether it is a replay
    payment = answer["payment"]
    settled = minor(payment["amount"]["amount"], attempt.bill.currency)
    debit = minor(payment["walletDebit"]["amount"], attempt.wallet_currency)
    if debit != attempt.debit(settled):
        raise Unexpected(f"graphql debit {debit} for {settled} of {attempt}")
    return Outcome("PAID", payment["id"], settled, answer["replayed"])


async def via_rest(client: httpx.AsyncClient, attempt: Attempt) -> Outcome:
    part: dict[str, Any] = {"currency": attempt.wallet_currency}
    if (amount := attempt.major()) is not None:
        part["chargeTotalCurrent"] = orjson.Fragment(str(amount).encode())
    if (rate := attempt.rate()) is not None:
        part["exchangeRate"] = orjson.Fragment(str(rate).encode())
    body = {
        "invoice": attempt.bill.number,
        "currency": attempt.bill.currency,
        "partPaymentFromWalletBalance": part,
    }
    headers = {
        "Authorization": f"Bearer {attempt.bill.owner.token}",
        "Content-Type": "application/json",
    }
    if attempt.key is not None:
        headers["Idempotency-Key"] = attempt.key
    response = await client.post(REST_PAY, content=orjson.dumps(body), headers=headers)
    replayed = response.headers.get("idempotent-replayed") == "true"
    if response.status_code >= 500:
        raise Unexpected(f"rest {response.status_code}")
    answer = json.loads(response.content, parse_float=Decimal)
    if response.status_code != 200:
        return Outcome(response.headers.get("x-error-code", "?"), replayed=replayed)
    settled = minor(answer["amountPaid"], attempt.bill.currency)
    return Outcome("PAID", answer["paymentId"], settled, replayed)


@dataclass
class Load:
    """The client's own count of what the mixed load did."""

    rng: random.Random
    bills: list[Bill]
    hot: list[Bill]
    wallets: dict[str, list[str]]  # customer id -> its wallet currencies
    sent: Counter[str] = field(default_factory=Counter)  # per instance and edge
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    debits: Counter[tuple[str, str]] = field(default_factory=Counter)
    settled: Counter[int] = field(default_factory=Counter)
    payment_ids: set[str] = field(default_factory=set)
    keyed: list[tuple[Attempt, Outcome]] = field(default_factory=list)
    twins: int = 0  # keyed requests sent twice at once

    def next_attempt(self) -> tuple[Attempt, Outcome | None]:
        """A new payment, or (sometimes) a keyed one again with the outcome it had."""
        rng = self.rng
        if self.keyed and rng.random() < 0.08:
            return rng.choice(self.keyed)
        bill = rng.choice(self.hot if rng.random() < 0.5 else self.bills)
        currencies = self.wallets[bill.owner.id]
        other = [c for c in currencies if c != bill.currency]
        wallet = other[0] if other and rng.random() < 0.3 else bill.currency
        amount = (
            None
            if rng.random() < 0.15
            else rng.randint(1, 15000 if bill.currency == "NGN" else 2000)
        )
        key = f"mix-{rng.getrandbits(64):016x}" if rng.random() < 0.2 else None
        return Attempt(bill, wallet, amount, key), None

    def record(self, attempt: Attempt, outcome: Outcome, first: Outcome | None) -> None:
        if outcome.code not in EXPECTED_REFUSALS | {"PAID"}:
            self.unexpected[f"code {outcome.code}"] += 1
            return
        if first is not None:
            # A key sent again, with the same parameters: its first outcome, no money moved.
            same = (outcome.code, outcome.payment_id, outcome.settled) == (
                first.code,
                first.payment_id,
                first.settled,
            )
            if not same or outcome.replayed is False:
                self.unexpected[f"replay {first.code} -> {outcome.code}"] += 1
            self.outcomes["replayed"] += 1
            return
        if outcome.replayed is True or outcome.payment_id in self.payment_ids:
            self.unexpected["fresh request answered as a replay"] += 1
            return
        self.outcomes[outcome.code] += 1
        if outcome.code == "PAID":
            assert outcome.payment_id is not None
            self.payment_ids.add(outcome.payment_id)
            self.debits[(attempt.bill.owner.id, attempt.wallet_currency)] += attempt.debit(
                outcome.settled
            )
            self.settled[attempt.bill.number] += outcome.settled
        if attempt.key is not None:
            self.keyed.append((attempt, outcome))


async def send(load: Load, clients: list[httpx.AsyncClient], attempt: Attempt) -> Outcome | None:
    """`attempt` through a random instance and edge; None (counted) if the answer was one
    no client may see."""
    instance = load.rng.randrange(len(clients))
    edge = load.rng.choice(["graphql", "rest"])
    load.sent[f"instance {instance} {edge}"] += 1
    try:
        if edge == "graphql":
            return await via_graphql(clients[instance], attempt)
        return await via_rest(clients[instance], attempt)
    except Unexpected as error:
        load.unexpected[str(error)] += 1
    except httpx.HTTPError as error:
        load.unexpected[f"{edge} {type(error).__name__}"] += 1
    return None


def executed_first(outcome: Outcome) -> int:
    """Sort key of twin outcomes: the one that says it executed, then one that cannot say."""
    return {False: 0, None: 1, True: 2}[outcome.replayed]


async def client_loop(load: Load, clients: list[httpx.AsyncClient], deadline: float) -> None:
    while time.monotonic() < deadline:
        attempt, first = load.next_attempt()
        if first is None and attempt.key is not None and load.rng.random() < 0.25:
            # Twins: one keyed request sent twice at once (often to both instances); one
            # executes, the other waits for it and replays its outcome.
            twins = await asyncio.gather(*(send(load, clients, attempt) for _ in range(2)))
            answered = sorted((o for o in twins if o is not None), key=executed_first)
            for n, twin in enumerate(answered):
                load.record(attempt, twin, answered[0] if n else None)
            load.twins += 1
            continue
        outcome = await send(load, clients, attempt)
        if outcome is not None:
            load.record(attempt, outcome, first)


async def test_a_mixed_load_from_every_instance_keeps_every_book_straight(
    db: Database, tmp_path: Path
) -> None:
    # given 16 customers with NGN and USD wallets and 8 invoices each, and three hot ones
    # with 16 (half of all requests go to those, so their wallets are always contended)
    rng = random.Random(20240611)
    initial: dict[tuple[str, str], int] = {}
    bills: list[Bill] = []
    hot: list[Bill] = []

    async def world() -> None:
        await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
        for n in range(19):
            is_hot = n < 3
            ngn, usd = ("1500.00", "30.00") if is_hot else ("800.00", "20.00")
            owner = await payer(db, f"Customer {n}", NGN=ngn, USD=usd)
            initial[(owner.id, "NGN")] = minor(ngn, "NGN")
            initial[(owner.id, "USD")] = minor(usd, "USD")
            for i in range(16 if is_hot else 8):
                currency = "USD" if i % 4 == 3 else "NGN"
                cents = rng.randint(1000, 4000) if currency == "USD" else rng.randint(10000, 40000)
                bill = Bill(10000 + 100 * n + i, owner, currency)
                total = str(Decimal(cents).scaleb(-2))
                await invoice(db, bill.number, owner.id, total, currency)
                (hot if is_hot else bills).append(bill)

    instances = 1 if db.is_sqlite else 2
    seconds = LOAD_SECONDS[backend(db)]
    # (every backend of earlier tests has exited and flushed its statistics)
    deadlocks_before = None if db.is_sqlite else await settled_deadlocks(db)
    async with served(db, tmp_path, world(), instances) as (servers, _), AsyncExitStack() as stack:
        wallets = {customer: ["NGN", "USD"] for customer, _ in initial}
        load = Load(rng, bills, hot, wallets)
        clients = [await stack.enter_async_context(server.client()) for server in servers]
        # when 32 clients pay for 8 s (6 on SQLite), each request to a random instance and edge
        started = time.monotonic()
        async with asyncio.timeout(seconds + BOUND_SECONDS):
            await asyncio.gather(
                *(client_loop(load, clients, started + seconds) for _ in range(LOAD_CLIENTS))
            )
        elapsed = time.monotonic() - started
    # (the servers have stopped: their backends exit and flush their statistics)
    deadlocks_after = None if db.is_sqlite else await settled_deadlocks(db)

    # then no client ever saw a 5xx, a top-level error or an unexpected answer
    requests = load.sent.total()
    assert load.unexpected == Counter(), load.unexpected
    assert load.outcomes.total() == requests
    assert all(
        load.sent[f"instance {i} {e}"] > 0 for i in range(instances) for e in ("graphql", "rest")
    )
    # and PostgreSQL counted no deadlock in the test database
    assert deadlocks_after == deadlocks_before
    # and every wallet is its initial balance less the debits the clients were told of
    for (customer, currency), start in initial.items():
        books = await wallet_books(db, customer, currency)
        expected = start - load.debits[(customer, currency)]
        assert (books.balance, books.ledger_sum) == (expected, expected), (customer, currency)
        assert books.lowest_balance_after >= 0
    # and every invoice has paid what its successful payments settled, never above its total
    stored = await invoice_books(db)
    for bill in [*bills, *hot]:
        paid = stored[bill.number]
        assert paid.amount_paid == paid.payments_sum == load.settled[bill.number], bill
        assert paid.amount_paid <= paid.total
        assert paid.status == (
            "PAID"
            if paid.amount_paid == paid.total
            else ("PARTIALLY_PAID" if paid.amount_paid else "UNPAID")
        )
    assert (await snapshot(db))["payments"] == [(load.outcomes["PAID"],)]
    assert await ledger_imbalances(db) == []
    refusals = {
        code: count for code, count in sorted(load.outcomes.items()) if code in EXPECTED_REFUSALS
    }
    report(
        f"contention[{backend(db)}] mixed REST+GraphQL load, {instances} instance(s),"
        f" {LOAD_CLIENTS} clients, {seconds} s",
        f"{requests} requests ({requests / elapsed:.0f}/s), {load.outcomes['PAID']} paid,"
        f" {load.outcomes['replayed']} idempotent replays, all checked ({load.twins} of them"
        " raced their original),"
        f" refusals {refusals}, unexpected 0, 5xx 0"
        + ("" if db.is_sqlite else f", deadlocks {deadlocks_before} -> {deadlocks_after}"),
    )
