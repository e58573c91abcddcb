"""The one walker of a document's root fields (app.api.graphql.document): the operation
graphql-core will run, fragments followed, aliases as response keys, `@skip`/`@include`
with literals and variables."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationType, parse

from app.api.graphql.document import root_fields

TWO_OPERATIONS = """
query Read { viewer { id } wallets { currency } }
mutation Pay { payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) { __typename } }
"""
FRAGMENTS = """
mutation {
  a: payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) { __typename }
  ... on Mutation { b: payInvoice(input: {invoiceNumber: 2, currency: "NGN"}) { __typename } }
  ...more
  ...more
}
fragment more on Mutation {
  c: payInvoice(input: {invoiceNumber: 3, currency: "NGN"}) { __typename }
  ...inner
}
fragment inner on Mutation { voidInvoice(number: 4) { __typename } }
"""
SKIPPED = """
mutation Pay($skip: Boolean!, $include: Boolean = true) {
  skipped: payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) @skip(if: true) { __typename }
  kept: payInvoice(input: {invoiceNumber: 2, currency: "NGN"}) @skip(if: false) { __typename }
  out: voidInvoice(number: 3) @include(if: false) { __typename }
  byVariable: voidInvoice(number: 4) @skip(if: $skip) { __typename }
  byDefault: voidInvoice(number: 5) @include(if: $include) { __typename }
  ...spread @skip(if: $skip)
  ... @include(if: $include) { inline: voidInvoice(number: 6) { __typename } }
}
fragment spread on Mutation { spread: voidInvoice(number: 7) { __typename } }
"""


def keys(document: str, operation: str | None = None, variables: Any = None) -> list[str]:
    found = root_fields(parse(document), operation, variables)
    return [(field.alias or field.name).value for field in found.fields]


def test_the_only_operation_is_chosen_without_a_name() -> None:
    found = root_fields(parse("{ viewer { id } wallets { currency } }"), None, None)
    assert found.operation == OperationType.QUERY and not found.mutation
    assert found.names == ["viewer", "wallets"]


def test_several_operations_are_chosen_by_operation_name() -> None:
    document = parse(TWO_OPERATIONS)
    read = root_fields(document, "Read", None)
    pay = root_fields(document, "Pay", None)
    assert (read.operation, read.names) == (OperationType.QUERY, ["viewer", "wallets"])
    assert (pay.mutation, pay.names) == (True, ["payInvoice"])


@pytest.mark.parametrize("name", [None, "Missing"], ids=["no name", "unknown name"])
def test_no_operation_runs_when_the_name_chooses_none(name: str | None) -> None:
    # as graphql-core: several operations need a name, and an unknown name runs nothing
    found = root_fields(parse(TWO_OPERATIONS), name, None)
    assert (found.operation, found.fields, found.mutation) == (None, (), False)


def test_fragments_at_the_root_are_followed_and_a_spread_fragment_runs_once() -> None:
    found = root_fields(parse(FRAGMENTS), None, None)
    assert [(f.alias or f.name).value for f in found.fields] == ["a", "b", "c", "voidInvoice"]
    assert len(found.named("payInvoice")) == 3


def test_aliases_are_response_keys_and_one_key_is_one_field() -> None:
    # graphql-core merges the fields of one response key and runs them once
    document = """mutation {
      payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) { __typename }
      payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) { __typename }
      other: payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) { __typename }
    }"""
    assert keys(document) == ["payInvoice", "other"]


def test_skip_and_include_with_literals_and_variables() -> None:
    # with $skip false and $include at its default (true)
    assert keys(SKIPPED, None, {"skip": False}) == [
        "kept",
        "byVariable",
        "byDefault",
        "spread",
        "inline",
    ]
    # with $skip true and $include false, sent
    assert keys(SKIPPED, "Pay", {"skip": True, "include": False}) == ["kept"]


def test_skip_wins_over_include() -> None:
    document = "{ viewer @include(if: true) @skip(if: true) { id } wallets { currency } }"
    assert keys(document) == ["wallets"]


def test_a_skipped_spread_does_not_use_up_its_fragment() -> None:
    # graphql-core marks a fragment seen only when it is spread
    document = """mutation {
      ...pay @skip(if: true)
      ...pay
    }
    fragment pay on Mutation {
      payInvoice(input: {invoiceNumber: 1, currency: "NGN"}) { __typename }
    }"""
    assert keys(document) == ["payInvoice"]


@pytest.mark.parametrize("sent", [{}, {"skip": "yes"}, {"skip": None}])
def test_a_condition_that_is_not_a_boolean_leaves_the_field_in(sent: dict[str, Any]) -> None:
    # graphql-core refuses such variables before any resolver; the checks stay on the safe side
    document = "mutation($skip: Boolean!) { voidInvoice(number: 1) @skip(if: $skip) { id } }"
    assert keys(document, None, sent) == ["voidInvoice"]


def test_a_fragment_cycle_ends() -> None:
    # invalid (validation refuses it), yet metrics walk invalid documents too
    document = "{ ...a } fragment a on Query { viewer { id } ...b } fragment b on Query { ...a }"
    assert keys(document) == ["viewer"]
