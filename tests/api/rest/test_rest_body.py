"""The REST body's pydantic models (app/api/rest/body.py): the first refusal is the one the
route has always named first, amounts stay exact, and the OpenAPI request schema is made
from the models in a form OpenAPI resolves."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from app import errors
from app.api.rest.body import PART, PayBody, parse_body, request_schema
from app.kit.strict_json import loads_exact

BASE: dict[str, Any] = {"invoice": 100, "currency": "NGN"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"amount": 5, "invoice": "x", PART: {"zz": 1}}, "amount", id="unknown first"),
        pytest.param(
            {"invoice": "x", PART: {"chargeTotalCurrent": "5", "zz": 1}},
            f"{PART}.zz",
            id="then unknown in the part payment",
        ),
        pytest.param({"cloneId": 1, PART: "5", "invoice": "x"}, "cloneId", id="then cloneId"),
        pytest.param({PART: "5", "invoice": "x"}, PART, id="then a part payment not an object"),
        pytest.param(
            {"memo": 1, PART: {"chargeTotalCurrent": "5"}, "currency": None},
            "invoice",
            id="then invoice",
        ),
        pytest.param(
            {**BASE, "memo": 1, PART: {"chargeTotalBefore": "1", "chargeTotalCurrent": "5"}},
            f"{PART}.chargeTotalCurrent",
            id="then the part payment's fields in the route's order",
        ),
        pytest.param(
            {**BASE, "accountingCode": 1, "applyEarlyPaymentDiscount": "yes"},
            "applyEarlyPaymentDiscount",
            id="then the flag before the texts",
        ),
        pytest.param(
            {**BASE, "b\udc00": 1, "amount": 2}, "b\udc00", id="a lone-surrogate key is unknown"
        ),
        pytest.param(
            {**BASE, PART: {"chargeTotalCurrent": "5", "a\ud800": 1}},
            f"{PART}.a\ud800",
            id="a lone-surrogate key in the part payment",
        ),
        pytest.param({**BASE, "reference": "\ud800"}, "reference", id="a lone surrogate value"),
        pytest.param(
            {**BASE, PART: {"exchangeRate": Decimal("1e-17")}},
            f"{PART}.exchangeRate",
            id="17 fractional digits",
        ),
        pytest.param({**BASE, "invoice": Decimal("1e999999999")}, "invoice", id="a huge invoice"),
    ],
)
def test_the_first_refusal_is_the_one_the_route_names_first(
    body: dict[str, Any], param: str
) -> None:
    with pytest.raises(errors.InvalidRequest) as refused:
        parse_body(body)

    assert refused.value.field == param


def test_a_null_where_a_value_is_required_is_missing_and_an_unknown_null_is_unknown() -> None:
    with pytest.raises(errors.InvalidRequest) as refused:
        parse_body({"invoice": None, "currency": "NGN"})
    assert refused.value.reason == "MISSING"

    with pytest.raises(errors.InvalidRequest) as refused:
        parse_body({**BASE, "amount": None})
    assert (refused.value.field, refused.value.reason) == ("amount", "UNKNOWN_FIELD")


def test_amounts_stay_the_exact_decimals_strict_json_read() -> None:
    body = loads_exact(
        b'{"invoice": 100.0, "currency": "NGN", "partPaymentFromWalletBalance":'
        b' {"exchangeRate": 0.1, "chargeTotalBefore": 5000, "chargeTotalCurrent": 1.10}}'
    )

    valid = parse_body(body)

    part = valid.partPaymentFromWalletBalance
    assert part is not None
    assert valid.invoice == 100 and type(valid.invoice) is int
    assert str(part.exchangeRate) == "0.1" and str(part.chargeTotalCurrent) == "1.10"
    assert part.chargeTotalBefore == Decimal(5000)


def test_the_request_schema_is_the_models_with_nothing_openapi_cannot_resolve() -> None:
    schema = request_schema()
    text = json.dumps(schema)

    assert set(schema["properties"]) == set(PayBody.model_fields)
    assert schema["required"] == ["invoice", "currency"]
    assert schema["properties"][PART]["type"] == ["object", "null"]
    assert schema["properties"][PART]["additionalProperties"] is False
    assert "$ref" not in text and "$defs" not in text and '"title"' not in text
