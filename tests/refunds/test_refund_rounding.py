"""The wallet credit's rounding: after refunds totalling R of a payment of amount A that
debited D, the wallet has been credited floor(D * R / A) in all. So no partial refund
credits more than its proportional share of what was refunded so far, and the whole
amount, refunded in any number of steps, gives back exactly D (DESIGN.md, Refunds)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.billing import admin
from app.db.engine import Database
from app.kit.money import MAX_MINOR, require_currency, to_decimal
from app.refunds import credit_for
from tests.support import DEMO_CLONE, invoice
from tests.support.refunds import balance, given_books, pay, refund


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` nearly equal pieces (the last takes the remainder)."""
    piece = total // parts
    return [piece] * (parts - 1) + [total - piece * (parts - 1)]


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
async def test_a_cross_currency_payment_refunded_in_parts_returns_exactly_its_debit(
    db: Database, parts: int
) -> None:
    # given 15000.01 NGN paid from Ada's USD wallet at 1500: 10.01 USD debited
    books = await given_books(db)
    start = await balance(db, books.world.ada, "USD")
    ngn = require_currency("NGN")
    credited = 0
    refunded = 0
    # when it is refunded in `parts` steps
    for piece in split(1500001, parts):
        result = await refund(db, books.usd_payment, str(to_decimal(piece, ngn)))
        assert result.rows is not None
        credited += result.rows.refund.wallet_credit
        refunded += piece
        # then no step has credited more than the share of what was refunded so far
        assert Fraction(credited) <= Fraction(1001 * refunded, 1500001)
    # and the whole refund gave back exactly 10.01 USD
    assert credited == 1001
    assert await balance(db, books.world.ada, "USD") == start + 1001


async def test_a_partial_refund_credits_at_most_its_proportional_share(db: Database) -> None:
    # given the 10.01 USD payment of 15000.01 NGN
    books = await given_books(db)
    # when a third of it is refunded
    result = await refund(db, books.usd_payment, "5000.00")
    # then the credit is rounded down: 1001 * 500000 / 1500001 = 333.66… → 3.33 USD
    assert result.rows is not None
    assert result.rows.refund.wallet_credit == 333


@pytest.mark.parametrize("parts", [1, 3])
async def test_jpy_paid_from_kwd_refunded_in_parts_returns_exactly_its_debit(
    db: Database, parts: int
) -> None:
    # given 1000 JPY (no minor unit) paid from a KWD wallet (3 decimals) at 470 JPY per KWD
    books = await given_books(db)
    await admin.top_up_wallet(db, DEMO_CLONE, books.world.ada, "KWD", Decimal("10.000"))
    await invoice(db, 700, books.world.ada, "1000", currency="JPY")
    payment = await pay(
        db,
        books.world.ada,
        700,
        currency="JPY",
        wallet_currency="KWD",
        exchange_rate=Decimal(470),
    )
    after_payment = await balance(db, books.world.ada, "KWD")
    debit = 10000 - after_payment  # ceil(1000 / 470 KWD in fils) = 2128
    assert debit == 2128
    # when refunded in parts of whole yen
    for piece in split(1000, parts):
        await refund(db, payment, str(piece))
    # then the KWD wallet is whole again
    assert await balance(db, books.world.ada, "KWD") == 10000


@st.composite
def payments_and_refunds(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """A payment (amount A, debit D) and refunds that add up to A."""
    amount = draw(st.integers(1, MAX_MINOR))
    debit = draw(st.integers(1, MAX_MINOR))
    cuts = draw(st.lists(st.integers(1, amount), max_size=12, unique=True))
    points = sorted({0, amount, *cuts})
    return amount, debit, [b - a for a, b in itertools.pairwise(points)]


@given(payments_and_refunds())
def test_any_refunds_of_any_payment_give_back_exactly_the_debit_and_never_more(
    case: tuple[int, int, list[int]],
) -> None:
    amount, debit, refunds = case
    credited = refunded = 0
    for part in refunds:
        credit = credit_for(debit, amount, refunded, part)
        assert credit >= 0
        credited += credit
        refunded += part
        # never more than the proportional share of what was refunded so far
        assert credited * amount <= debit * refunded
        # and short of it by less than one minor unit
        assert (credited + 1) * amount > debit * refunded
    assert refunded == amount
    assert credited == debit


@given(st.integers(1, 10**6), st.integers(1, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_credit_for_refuses_refunds_beyond_the_payment(
    amount: int, debit: int, before: int, part: int
) -> None:
    if before + part <= amount:
        assert credit_for(debit, amount, before, part) >= 0
    else:
        with pytest.raises(ValueError):
            credit_for(debit, amount, before, part)
