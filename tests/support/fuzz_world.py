"""The world the schemathesis suites fuzz (tests/api/rest/test_fuzz_rest.py and
tests/api/graphql/test_fuzz_graphql.py): a funded tenant with open, paid, void and
discounted invoices, and the tokens of everyone who may send a request, from the owner of
the invoices to a forger.

Schemathesis serves each request through its own ASGI client, on an event loop of its own
thread; so the app opens its own engine there (`create_app(settings)`, no shared
`Database`), and seeding and the final ledger check run on loops of their own here.

Who sends a generated request is drawn with it: a `flatmap_case` hook (`sent_by`) puts a
name in the `X-Fuzz-Identity` header, and the test swaps it for that person's token
(`sign`), since tokens only exist once the world is seeded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import schemathesis
from hypothesis import strategies as st
from sqlalchemy import text

from app.billing import admin
from app.db.engine import Database
from app.db.uow import UnitOfWork
from app.ledger.verify import verify_ledger
from app.payments import PayInvoice, pay_invoice
from tests.conftest import TABLES
from tests.support.figures import report
from tests.support.world import DEMO_CLONE, OTHER_CLONE, invoice, make_world, token_for

# Ada's open invoices: number, total, currency. Invoice 2 is larger than her wallet, so
# it is never paid off: part payments of it go through for the whole run; invoices 11 to
# 30 are there to be paid in full, one by one.
OPEN_INVOICES = [
    (2, "900000000000", "NGN"),  # first: the one Hypothesis draws most
    (1, "15000", "NGN"),
    (3, "5000000", "USD"),
    (4, "5000", "JPY"),
    (5, "12.345", "KWD"),
    (100123, "15000", "NGN"),
    *[(number, "1000", "NGN") for number in range(11, 31)],
]
DISCOUNTED, BOLAS, PAID, VOIDED, ELSEWHERE = 6, 7, 8, 9, 10
# Every invoice of the demo tenant with its currency, open or not, Ada's or Bola's.
INVOICES = [(number, currency) for number, _, currency in OPEN_INVOICES]
INVOICES += [(DISCOUNTED, "NGN"), (BOLAS, "NGN"), (PAID, "NGN"), (VOIDED, "NGN")]
CURRENCIES = ["NGN", "USD", "JPY", "KWD", "EUR"]
# The longest address app/billing/admin.py's pattern admits: 384 characters, for a VARCHAR(320).
LONGEST_EMAIL = "a" * 64 + "@" + "b" * 255 + "." + "c" * 63

Case = schemathesis.Case[Any]

IDENTITY = "X-Fuzz-Identity"
NOBODY, FORGED = "nobody", "forged"


@dataclass(frozen=True)
class Books:
    """Tokens by who holds them (None: send none), and the ids of the world's objects."""

    tokens: dict[str, str | None]
    ids: dict[str, str]


async def _seed(url: str) -> Books:
    db = Database(url, pool_size=2)
    try:
        world = await make_world(db)
        # Ada can pay a lot, from wallets with 0, 2 and 3 decimals.
        for currency, amount in (("NGN", "1000000000"), ("USD", "1000000"), ("JPY", "100000000")):
            await admin.top_up_wallet(db, DEMO_CLONE, world.ada, currency, Decimal(amount))
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "KWD", Decimal("1000.000"))
        later = datetime.now(UTC) + timedelta(days=30)
        for number, total, currency in OPEN_INVOICES:
            await invoice(db, number, world.ada, total, currency)
        await invoice(
            db, DISCOUNTED, world.ada, "5000", discount_percent=Decimal(5), discount_until=later
        )
        await invoice(db, BOLAS, world.bola, "2500")
        await invoice(db, PAID, world.ada, "1000")
        paid = await pay_invoice(db, PayInvoice(DEMO_CLONE, world.ada, PAID, "NGN"))
        await invoice(db, VOIDED, world.ada, "1000")
        await admin.void_invoice(db, DEMO_CLONE, VOIDED)
        await invoice(db, ELSEWHERE, world.stranger, "100", tenant_id=OTHER_CLONE)
        await pay_invoice(
            db, PayInvoice(OTHER_CLONE, world.stranger, ELSEWHERE, "NGN", Decimal(50))
        )
        # Sessions an admin may revoke without locking anyone else out of the run.
        spares = [
            await admin.create_session(db, DEMO_CLONE, customer_id=world.bola, ttl_seconds=3600)
            for _ in range(2)
        ]
        async with UnitOfWork(db) as uow:
            ada_wallets = await uow.wallets.list_for_customers([world.ada])
            stranger_wallets = await uow.wallets.list_for_customers([world.stranger])
            bolas = await uow.invoices.get_by_number(DEMO_CLONE, BOLAS)
            own = await uow.invoices.get_by_number(DEMO_CLONE, 1)
            elsewhere = await uow.invoices.get_by_number(OTHER_CLONE, ELSEWHERE)
        assert bolas is not None and own is not None and elsewhere is not None
        ids = {
            "ada": world.ada,
            "bola": world.bola,
            "stranger": world.stranger,
            "ada_wallet": ada_wallets[0].id,
            "stranger_wallet": stranger_wallets[0].id,
            "ada_invoice": own.id,
            "bola_invoice": bolas.id,
            "stranger_invoice": elsewhere.id,
            "ada_payment": paid.payment_id,
            "spare_session_1": spares[0].jti,
            "spare_session_2": spares[1].jti,
        }
        return Books(
            tokens={
                "ada": world.ada_token,
                "bola": world.bola_token,
                "admin": world.admin_token,
                "stranger": world.stranger_token,
                "other_admin": world.other_admin_token,
                "admin_2": await token_for(db, DEMO_CLONE, None),
                NOBODY: None,
                FORGED: world.ada_token[:-4] + "AAAA",
            },
            ids=ids,
        )
    finally:
        await db.dispose()


async def truncate(url: str) -> None:
    """Empty every table of the PostgreSQL database at `url` (as conftest's `database_url`)."""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


COUNTS = {
    "payments": "SELECT count(*) FROM payments",
    "customers": "SELECT count(*) FROM customers",
    "invoices": "SELECT count(*) FROM invoices",
    "wallets": "SELECT count(*) FROM wallets",
}


async def _books_after(url: str) -> tuple[list[Any], dict[str, int]]:
    """Every ledger invariant's violations, and how many rows of each kind there are."""
    db = Database(url, pool_size=1)
    try:
        problems = list(await verify_ledger(db))
        async with db.engine.connect() as connection:
            counts = {
                table: int((await connection.execute(text(sql))).scalar_one())
                for table, sql in COUNTS.items()
            }
        return problems, counts
    finally:
        await db.dispose()


def seeded(database_url: str, suite: str) -> Iterator[Books]:
    """The world on a clean database; after the run, every ledger invariant must hold, and
    what the run made is reported."""
    books = asyncio.run(_seed(database_url))
    _, before = asyncio.run(_books_after(database_url))
    yield books
    problems, after = asyncio.run(_books_after(database_url))
    assert problems == []
    made = ", ".join(f"{after[table] - before[table]} {table}" for table in after)
    report(f"{suite} ({backend(database_url)}): made", f"{made}; ledger verified")


def sent_by(*names: str) -> Callable[[schemathesis.HookContext, Case], Any]:
    """A `flatmap_case` hook drawing who sends each case (the first name most often)."""

    def flatmap_case(_context: schemathesis.HookContext, case: Case) -> Any:
        return st.sampled_from(names).map(lambda who: mark(case, who))

    return flatmap_case


def mark(case: Case, who: str) -> Case:
    """`case`, to be sent by `who` (see `sign`)."""
    case.headers[IDENTITY] = who
    return case


def sign(case: Case, books: Books, default: str) -> str:
    """Put the drawn sender's token on `case` (`default` for cases no hook drew, such as
    schemathesis' coverage phase); the sender's name."""
    who: str = case.headers.pop(IDENTITY, default)
    token = books.tokens[who]
    if token is not None:
        case.headers["Authorization"] = f"Bearer {token}"
    return who


def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@dataclass
class Tally:
    """What one suite sent and got, reported with tests/support/figures.py at its end."""

    statuses: Counter[str] = field(default_factory=Counter)
    senders: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def count(self, case: Case, who: str, outcome: str) -> None:
        meta = case.meta
        phase = f"{meta.phase.name.value} {meta.generation.mode.value}" if meta else "explicit"
        self.phases[phase] += 1
        self.senders[who] += 1
        self.statuses[outcome] += 1

    @contextmanager
    def timed(self) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds += time.monotonic() - started

    def report(self, name: str) -> None:
        def top(counter: Counter[str]) -> str:
            return ", ".join(f"{key} {count}" for key, count in counter.most_common())

        report(
            name,
            f"{sum(self.phases.values())} requests in {self.seconds:.0f} s; by phase:"
            f" {top(self.phases)}; by sender: {top(self.senders)}; answers: {top(self.statuses)}",
        )
