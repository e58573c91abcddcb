"""Input objects built by `app.api.graphql.inputs` are exactly what Strawberry's own
conversion builds, for every input type of the schema, with fields given, left out and
null, nested inputs and lists included; and the per-type work is done once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from app.api.graphql import inputs
from app.api.graphql.mutations import (
    CreateCustomerInput,
    CreateInvoiceInput,
    EarlyPaymentDiscountInput,
    PayInvoiceInput,
    TopUpWalletInput,
)
from app.api.graphql.refunds import RefundPaymentInput
from app.api.graphql.schema import schema
from app.api.graphql.webhooks import CreateWebhookEndpointInput, UpdateWebhookEndpointInput

WHEN = datetime(2026, 12, 6, tzinfo=UTC)
CASES: list[tuple[type, dict[str, Any]]] = [
    (PayInvoiceInput, {"invoiceNumber": 100123, "currency": "NGN"}),
    (
        PayInvoiceInput,
        {
            "invoiceNumber": 7,
            "currency": "NGN",
            "amount": Decimal("1.50"),
            "walletCurrency": "USD",
            "exchangeRate": Decimal("1500"),
            "expectedBalanceDue": None,
            "applyEarlyPaymentDiscount": True,
            "reference": "r",
            "memo": None,
            "accountingCode": "4000",
            "idempotencyKey": "k-1",
            "cloneId": "demo",
        },
    ),
    (
        CreateInvoiceInput,
        {"number": 1, "customerId": "cus_1", "currency": "NGN", "total": Decimal("9")},
    ),
    (
        CreateInvoiceInput,
        {
            "number": 2,
            "customerId": "cus_1",
            "currency": "NGN",
            "total": Decimal("9"),
            "dueAt": WHEN,
            "earlyPaymentDiscount": {"percent": Decimal("2.5"), "until": WHEN},
        },
    ),
    (CreateCustomerInput, {"name": "Ada", "email": "ada@example.com"}),
    (EarlyPaymentDiscountInput, {"percent": Decimal("2.5"), "until": WHEN}),
    (TopUpWalletInput, {"customerId": "cus_1", "currency": "NGN", "amount": Decimal("10")}),
    (RefundPaymentInput, {"paymentId": "pay_1"}),
    (
        CreateWebhookEndpointInput,
        {"url": "https://example.com/h", "eventTypes": ["payment.succeeded"]},
    ),
    (UpdateWebhookEndpointInput, {}),
    (UpdateWebhookEndpointInput, {"description": None, "eventTypes": ["a", "b"], "enabled": False}),
]


@contextmanager
def strawberrys_own(type_: type) -> Iterator[None]:
    definition: StrawberryObjectDefinition = type_.__strawberry_definition__  # type: ignore[attr-defined]
    ours, definition.from_input = definition.from_input, None
    try:
        yield
    finally:
        definition.from_input = ours


def converted(type_: type, value: Mapping[str, Any]) -> Any:
    return convert_argument(
        dict(value), type_, schema.schema_converter.scalar_registry, schema.config
    )


def test_every_input_type_of_the_schema_builds_its_own_value() -> None:
    names = {
        concrete.definition.name
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and concrete.definition.is_input
    }
    assert {type_.__strawberry_definition__.name for type_, _ in CASES} == names  # type: ignore[attr-defined]
    for type_, _ in CASES:
        assert type_.__strawberry_definition__.from_input is inputs.build_input  # type: ignore[attr-defined]


@pytest.mark.parametrize(("type_", "value"), CASES, ids=lambda case: getattr(case, "__name__", ""))
def test_the_value_is_what_strawberry_builds(type_: type, value: dict[str, Any]) -> None:
    ours = converted(type_, value)
    with strawberrys_own(type_):
        theirs = converted(type_, value)
    assert type(ours) is type(theirs) is type_
    assert vars(ours) == vars(theirs)


def test_a_list_is_copied_not_shared() -> None:
    given = ["payment.succeeded"]
    built = converted(CreateWebhookEndpointInput, {"url": "https://e.com", "eventTypes": given})
    assert built.event_types == given
    assert built.event_types is not given


def test_a_type_is_learnt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "_PLANS", {})
    planned: list[type] = []
    real = inputs._plan

    def counted(type_: type, context: Any) -> Any:
        planned.append(type_)
        return real(type_, context)

    monkeypatch.setattr(inputs, "_plan", counted)
    for _ in range(3):
        converted(PayInvoiceInput, {"invoiceNumber": 1, "currency": "NGN"})
    assert planned == [PayInvoiceInput]
