"""Money: integer minor units inside, `Decimal` at the edges, never float.

This module is the one place that converts between the two and the one place
that knows a currency's minor-unit exponent (ISO 4217 data from Babel/CLDR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache

from babel import numbers as babel_numbers

from app.errors import CurrencyNotFound

# Largest amount accepted anywhere, in minor units: far below 2**63 so sums stay safe.
MAX_MINOR = 10**15
_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int


class AmountError(ValueError):
    """A decimal amount cannot be represented in a currency's minor units."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@cache
def _known_codes() -> frozenset[str]:
    return frozenset(babel_numbers.list_currencies())


def find_currency(code: str) -> Currency | None:
    """The ISO 4217 currency for `code` (exact, upper case), or None if unknown."""
    if not _CODE.match(code) or code not in _known_codes():
        return None
    return _currency(code)


@cache
def _currency(code: str) -> Currency:
    """A known code's currency, looked up in CLDR once (at most ~300 codes exist)."""
    return Currency(code=code, exponent=int(babel_numbers.get_currency_precision(code)))


def require_currency(code: str) -> Currency:
    """The currency for `code`, or the domain error CurrencyNotFound."""
    currency = find_currency(code)
    if currency is None:
        raise CurrencyNotFound(currency=code[:16])
    return currency


def to_minor(amount: Decimal, currency: Currency) -> int:
    """`amount` in major units as exact minor units; raises AmountError when it cannot be."""
    if not amount.is_finite():
        raise AmountError("NOT_FINITE")
    if abs(amount) >= Decimal(MAX_MINOR):
        raise AmountError("TOO_LARGE")
    scaled = amount.scaleb(currency.exponent)
    if scaled != scaled.to_integral_value():
        raise AmountError("TOO_PRECISE")
    minor = int(scaled)
    if abs(minor) > MAX_MINOR:
        raise AmountError("TOO_LARGE")
    return minor


def to_decimal(minor: int, currency: Currency) -> Decimal:
    """Minor units as a `Decimal` with exactly the currency's number of decimals."""
    return Decimal(minor).scaleb(-currency.exponent).quantize(Decimal(1).scaleb(-currency.exponent))


def convert_up(amount_minor: int, source: Currency, target: Currency, rate: Decimal) -> int:
    """Target minor units needed to buy `amount_minor` of source at `rate` source units per
    target unit, rounded up so rounding never favours the payer."""
    exact: Fraction = (
        Fraction(amount_minor) * 10**target.exponent / (10**source.exponent * Fraction(rate))
    )
    return -(-exact.numerator // exact.denominator)


def percent_of_down(amount_minor: int, percent: Decimal) -> int:
    """`percent` % of `amount_minor`, rounded down (a discount never exceeds its terms)."""
    exact = Fraction(amount_minor) * Fraction(percent) / 100
    return exact.numerator // exact.denominator
