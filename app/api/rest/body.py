"""The REST body as pydantic models: the route's checks and the OpenAPI request schema are
made from this one definition, so the document and the code cannot drift apart.

The models validate the dict `app.kit.strict_json` decoded (never the raw JSON: pydantic's
own parser keeps the last of two equal keys and may read a number through a float), in
strict mode: a string is never a number, a number never a string or a flag. Text lengths
and the exchange rate's sign are the payment service's checks (check 4, after the invoice
is found); the schema states them, the models leave them to it, as the answers depend on
that order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from app import errors
from app.kit.text import storable

PART = "partPaymentFromWalletBalance"
INT32 = 2**31
# The GraphQL `Decimal` scalar's bounds: at most 24 integer and 16 fractional digits.
# A JSON number beyond them (1e999999999, 1e-999999999) is not an amount but a mistyped
# parameter, and the service must never see one (it would overflow or never finish).
MAX_INTEGER_DIGITS = 24
MAX_FRACTION_DIGITS = 16

_AMOUNT_IN = (
    "A JSON number, read exactly (as a decimal, never a float): at most 24 integer and 16 "
    "fractional digits, else 400."
)
_UNKNOWN_REFUSED = (
    " Any other field (a misspelt one too) or a repeated key is refused with 400, its "
    "path in `param`."
)


def _int32(value: Any) -> int:
    """A JSON number with an integral value, such as 100123.0, is that integer (as in JSON
    Schema and GraphQL); 100123.5 is not."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("NOT_AN_INTEGER")
    number = Decimal(value)
    # The range first: int() of 1e999999999 would never finish.
    if not -INT32 <= number < INT32 or number != number.to_integral_value():
        raise ValueError("NOT_AN_INTEGER")
    return int(number)


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("NOT_A_NUMBER")
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # NaN and Infinity never parse
    if number.adjusted() >= MAX_INTEGER_DIGITS or exponent < -MAX_FRACTION_DIGITS:
        raise ValueError("OUT_OF_RANGE")
    return number


def _text(value: str) -> str:
    if not storable(value):
        raise ValueError("NOT_TEXT")
    return value


Int32 = Annotated[
    int,
    BeforeValidator(_int32),
    WithJsonSchema({"type": "integer", "format": "int32", "minimum": -INT32, "maximum": INT32 - 1}),
]
Amount = Annotated[Decimal, BeforeValidator(_amount), WithJsonSchema({"type": "number"})]
Text = Annotated[str, AfterValidator(_text)]


def _doc(description: str = "", **schema: Any) -> Any:
    """A field's description, and what the schema states but the service checks."""
    return Field(default=None, description=description or None, json_schema_extra=schema)


class PartPayment(BaseModel):
    """How to pay: which wallet, at what rate, how much, against which balance."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    currency: Text | None = _doc(
        "Currency of the paying wallet; default the invoice currency.", maxLength=16
    )
    exchangeRate: Amount | None = _doc(
        "Invoice-currency units one wallet-currency unit buys (1 if equal). " + _AMOUNT_IN,
        exclusiveMinimum=0,
    )
    chargeTotalBefore: Amount | None = _doc(
        "The balance due the client expects (stale-state guard). " + _AMOUNT_IN
    )
    chargeTotalCurrent: Amount | None = _doc(
        "Amount to settle now, invoice currency; default the whole balance. " + _AMOUNT_IN
    )


class PayBody(BaseModel):
    """The payment."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    cloneId: Text | None = _doc("Tenant; must be the token's tenant.")
    invoice: Int32 = Field(description="Invoice number.")
    currency: Text = Field(
        description="Invoice currency (ISO 4217).", json_schema_extra={"maxLength": 16}
    )
    partPaymentFromWalletBalance: PartPayment | None = _doc(
        "How to pay: which wallet, at what rate, how much, against which balance."
        + _UNKNOWN_REFUSED
    )
    applyEarlyPaymentDiscount: bool | None = _doc("Apply the early-payment discount.")
    reference: Text | None = _doc(maxLength=200)
    memo: Text | None = _doc(maxLength=1000)
    accountingCode: Text | None = _doc(maxLength=100)


BODY_FIELDS = frozenset(PayBody.model_fields)
PART_FIELDS = frozenset(PartPayment.model_fields)

# The order the route has always checked a body in (DESIGN's answers depend on which
# refusal comes first): unknown fields, by level then by their place in the body; then
# these fields, in this order.
CHECK_ORDER = [
    ("cloneId",),
    (PART,),
    ("invoice",),
    ("currency",),
    (PART, "chargeTotalCurrent"),
    (PART, "currency"),
    (PART, "exchangeRate"),
    (PART, "chargeTotalBefore"),
    ("applyEarlyPaymentDiscount",),
    ("reference",),
    ("memo",),
    ("accountingCode",),
]
_REASONS = {
    "missing": "MISSING",
    "extra_forbidden": "UNKNOWN_FIELD",
    "model_type": "NOT_AN_OBJECT",
    "string_type": "NOT_A_STRING",
    "bool_type": "NOT_A_BOOLEAN",
}


def _rank(error: Any, body: dict[str, Any]) -> tuple[int, int]:
    loc = tuple(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        level = body if len(loc) == 1 else body[PART]
        return (len(loc) - 1, list(level).index(loc[-1]))
    return (2 + CHECK_ORDER.index(loc), 0)


def _first_unknown(body: dict[str, Any]) -> str:
    """The first unknown field, top level first. Only for a key holding a lone surrogate
    (valid JSON, not Unicode): pydantic-core cannot read one and refuses its whole level
    without naming the other fields, so this keeps the hand check; such a key is always
    unknown, and unknown fields are always named first."""
    part = body.get(PART)
    unknown = [name for name in body if name not in BODY_FIELDS]
    if not unknown and isinstance(part, dict):
        unknown = [f"{PART}.{name}" for name in part if name not in PART_FIELDS]
    return unknown[0]


def parse_body(body: dict[str, Any]) -> PayBody:
    """The decoded body as a PayBody; InvalidRequest naming the first refused field by
    its whole path (`partPaymentFromWalletBalance.chargeTotalCurrent`)."""
    try:
        return PayBody.model_validate(body)
    except ValidationError as failure:
        found = failure.errors()
        if any(e["type"] == "string_unicode" and e["loc"] in {(), (PART,)} for e in found):
            raise errors.InvalidRequest(_first_unknown(body), "UNKNOWN_FIELD") from None
        first = min(found, key=lambda error: _rank(error, body))
        # A validator here raises ValueError(reason); pydantic's own checks have a type.
        reason = str(first.get("ctx", {}).get("error", "")) or first["type"]
        reason = _REASONS.get(reason, reason)
        if reason != "UNKNOWN_FIELD" and first.get("input", ...) is None:
            reason = "MISSING"  # null where a value is required: as if left out
        field = ".".join(str(part) for part in first["loc"])
        raise errors.InvalidRequest(field, reason) from None


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """OpenAPI resolves `#/...` against the whole document: each `$ref` to a model is put
    in place; `X | None` becomes a type list with "null" (as OpenAPI 3.1 writes it);
    pydantic's titles and `default: null` go."""
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    out = {
        key: _inline(value, defs)
        for key, value in schema.items()
        if key not in {"title", "$defs"} and not (key == "default" and value is None)
    }
    if "properties" in out:  # property names are the client's, not keywords
        out["properties"] = {
            name: _inline(value, defs) for name, value in schema["properties"].items()
        }
    options = out.get("anyOf", [])
    if len(options) == 2 and options[1] == {"type": "null"} and "type" in options[0]:
        del out["anyOf"]
        out = {**options[0], **out, "type": [options[0]["type"], "null"]}
    return out


def request_schema() -> dict[str, Any]:
    """PayBody's JSON Schema as the OpenAPI document's request body schema."""
    schema = PayBody.model_json_schema()
    document: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    document["description"] = "The payment." + _UNKNOWN_REFUSED
    return document
