"""The `Decimal` scalar: decimal strings in and out, never floats."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import strawberry
from graphql import StringValueNode, ValueNode

# Plain decimal notation only: no exponent, NaN or Infinity, at most 40 digits. ASCII
# digits only (`\d` and Decimal() read Arabic-Indic, fullwidth or Devanagari ones too),
# matched whole (`$` would let a trailing newline through, which Decimal() strips).
_DECIMAL = re.compile(r"-?[0-9]{1,24}(\.[0-9]{1,16})?")


class InvalidDecimal(ValueError):
    """The client sent something that is not a Decimal: a request error, never masked."""


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidDecimal('Decimal must be a string such as "15000.00"')
    text = str(value)
    if not _DECIMAL.fullmatch(text):
        raise InvalidDecimal('Decimal must be a plain decimal string such as "15000.00"')
    return Decimal(text)


def _parse_literal(node: ValueNode, _variables: Any = None) -> Decimal:
    if isinstance(node, StringValueNode):
        return parse_decimal(node.value)
    raise InvalidDecimal('Decimal must be a string such as "15000.00"')


def serialize_decimal(value: Decimal) -> str:
    # Plain notation always: str() would answer "1E-7", which no client may send back.
    return format(value, "f")


DECIMAL = strawberry.scalar(
    name="Decimal",
    description='A decimal number as a string, e.g. "15000.00". Never a float.',
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=_parse_literal,
)
