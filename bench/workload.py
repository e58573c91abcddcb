"""What the load generator sends, and how it tells a success from anything else.

Every kind builds raw HTTP/1.1 requests (built ahead where they do not vary) and checks
each answer in full: the status, the body's shape, and that it is about what was asked
(the invoice paid, the amount settled, the page asked for). Anything else is an error.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

REST_PATH = "/api/v1/billing/invoice/pay"
GRAPHQL_PATH = "/graphql"
FLOOR_PATH = "/floor/pay"  # bench.floor, row f
REST_REFERENCE = "bench-rest"
GRAPHQL_REFERENCE = "bench-graphql"
FLOOR_REFERENCE = "bench-floor"
PAGE_SIZE = 50
MIN_MINOR, MAX_MINOR = 1, 100  # each payment settles 0.01 … 1.00 NGN

PAY_MUTATION = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess {
      replayed
      payment { id amount { amount currency } }
      invoice { number status balanceDue { amount currency } }
      wallet { balance { amount currency } }
    }
    ... on Error { code message }
  }
}
"""
INVOICE_QUERY = """
query Invoice($number: Int!) {
  invoice(number: $number) {
    __typename id number status
    total { amount currency } balanceDue { amount currency }
  }
}
"""
PAGE_QUERY = """
query Page($first: Int!, $after: String) {
  invoices(first: $first, after: $after) {
    edges { cursor node { id number status total { amount currency } balanceDue { amount } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
VIEWER_QUERY = """
query Viewer {
  viewer { __typename id name status wallets { id currency balance { amount currency } } }
}
"""

KINDS = ("rest_pay", "graphql_pay", "floor_pay", "invoice", "viewer", "page", "heavy")
HEAVY_PAGE = 100  # invoices per aliased page of the heavy read: the most `first` allows


def heavy_query(aliases: int) -> str:
    """A dashboard's heaviest read: `aliases` pages of 100 invoices, each at its own cursor
    (the bench sends as many as the cost limit allows, `bench.run.heaviest_allowed`)."""
    variables = ", ".join(f"$c{i}: String" for i in range(aliases))
    node = "id number status total { amount currency } balanceDue { amount currency }"
    pages = " ".join(
        f"p{i}: invoices(first: {HEAVY_PAGE}, after: $c{i}) {{ edges {{ node {{ {node} }} }} }}"
        for i in range(aliases)
    )
    return f"query Heavy({variables}) {{ {pages} }}"


@dataclass(frozen=True)
class Call:
    """One request: its bytes, and what its answer must say."""

    raw: bytes
    paid_minor: int = 0  # a payment's amount (minor units); 0 for reads
    expect: Any = None


Check = Callable[[Call, int, bytes], str | None]


@dataclass(frozen=True)
class Target:
    token: str
    customer_id: str
    invoice_number: int


def _request(host: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _graphql(query: str, variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": query, "variables": variables})


def _data(status: int, body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    if status != 200:
        return None, f"HTTP {status}: {body[:160]!r}"
    answer = orjson.loads(body)
    if answer.get("errors"):
        return None, f"GraphQL errors: {str(answer['errors'])[:160]}"
    data = answer.get("data")
    if not isinstance(data, dict):
        return None, f"no data: {body[:160]!r}"
    return data, None


def check_rest_pay(call: Call, status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:160]!r}"
    answer = orjson.loads(body)
    if answer.get("success") is not True or answer.get("invoiceNo") != call.expect:
        return f"not a success for invoice {call.expect}: {body[:160]!r}"
    if Decimal(str(answer.get("amountPaid"))) != Decimal(call.paid_minor) / 100:
        return f"paid {answer.get('amountPaid')}, asked {_major(call.paid_minor)}"
    return None


def check_graphql_pay(call: Call, status: int, body: bytes) -> str | None:
    data, error = _data(status, body)
    if data is None:
        return error
    result = data.get("payInvoice") or {}
    if result.get("__typename") != "PayInvoiceSuccess" or result.get("replayed") is not False:
        return f"unexpected {result.get('__typename')}: {str(result)[:160]}"
    if result["invoice"]["number"] != call.expect:
        return f"paid invoice {result['invoice']['number']}, asked {call.expect}"
    if Decimal(result["payment"]["amount"]["amount"]) != Decimal(call.paid_minor) / 100:
        return f"paid {result['payment']['amount']}, asked {_major(call.paid_minor)}"
    return None


def check_floor_pay(call: Call, status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:160]!r}"
    answer = orjson.loads(body)
    if answer.get("invoice") != call.expect or answer.get("amount") != call.paid_minor:
        return f"asked {call.paid_minor} on invoice {call.expect}: {body[:160]!r}"
    if not str(answer.get("payment", "")).startswith("pay_"):
        return f"no payment id: {body[:160]!r}"
    return None


def check_invoice(call: Call, status: int, body: bytes) -> str | None:
    data, error = _data(status, body)
    if data is None:
        return error
    invoice = data.get("invoice") or {}
    if invoice.get("__typename") != "Invoice" or invoice.get("number") != call.expect:
        return f"asked invoice {call.expect}, got {str(invoice)[:160]}"
    return None


def check_viewer(call: Call, status: int, body: bytes) -> str | None:
    data, error = _data(status, body)
    if data is None:
        return error
    viewer = data.get("viewer") or {}
    if viewer.get("__typename") != "Customer" or viewer.get("id") != call.expect:
        return f"asked viewer {call.expect}, got {str(viewer)[:160]}"
    if not viewer.get("wallets"):
        return "viewer without wallets"
    return None


def check_page(call: Call, status: int, body: bytes) -> str | None:
    data, error = _data(status, body)
    if data is None:
        return error
    edges = (data.get("invoices") or {}).get("edges") or []
    numbers = [edge["node"]["number"] for edge in edges]
    expected = list(range(call.expect + 1, call.expect + 1 + PAGE_SIZE))
    if numbers != expected:
        return f"page after {call.expect}: {len(numbers)} invoices from {numbers[:1]}"
    return None


def check_heavy(call: Call, status: int, body: bytes) -> str | None:
    data, error = _data(status, body)
    if data is None:
        return error
    sizes = [len((page or {}).get("edges") or []) for page in data.values()]
    if len(sizes) != call.expect or any(size != HEAVY_PAGE for size in sizes):
        return f"asked {call.expect} pages of {HEAVY_PAGE}, got {sizes[:5]}"
    return None


def cursor(number: int) -> str:
    """The invoices connection's cursor for `number` (app.api.graphql.types.encode_cursor)."""
    return base64.urlsafe_b64encode(f"inv:{number}".encode()).decode()


def make_calls(spec: dict[str, Any], rng: random.Random) -> tuple[Callable[[], Call], Check]:
    """The request maker and the checker of one measurement `spec` (see bench.load)."""
    kind = spec["kind"]
    host = f"{spec['host']}:{spec['port']}"
    targets = [Target(*target) for target in spec["targets"]]

    def pick() -> Target:
        return targets[0] if len(targets) == 1 else rng.choice(targets)

    if kind == "rest_pay":

        def rest_pay() -> Call:
            target, minor = pick(), rng.randint(MIN_MINOR, MAX_MINOR)
            body = (
                f'{{"invoice": {target.invoice_number}, "currency": "NGN",'
                f' "partPaymentFromWalletBalance": {{"chargeTotalCurrent": {_major(minor)}}},'
                f' "reference": "{REST_REFERENCE}"}}'
            ).encode()
            raw = _request(host, REST_PATH, target.token, body)
            return Call(raw, minor, target.invoice_number)

        return rest_pay, check_rest_pay
    if kind == "graphql_pay":

        def graphql_pay() -> Call:
            target, minor = pick(), rng.randint(MIN_MINOR, MAX_MINOR)
            variables = {
                "input": {
                    "invoiceNumber": target.invoice_number,
                    "currency": "NGN",
                    "amount": _major(minor),
                    "reference": GRAPHQL_REFERENCE,
                }
            }
            raw = _request(host, GRAPHQL_PATH, target.token, _graphql(PAY_MUTATION, variables))
            return Call(raw, minor, target.invoice_number)

        return graphql_pay, check_graphql_pay
    if kind == "floor_pay":

        def floor_pay() -> Call:
            # No token: the floor has no auth (bench.floor); the same payments otherwise.
            target, minor = pick(), rng.randint(MIN_MINOR, MAX_MINOR)
            body = orjson.dumps(
                {
                    "customer": target.customer_id,
                    "invoice": target.invoice_number,
                    "currency": "NGN",
                    "amount": minor,
                    "reference": FLOOR_REFERENCE,
                }
            )
            head = (
                f"POST {FLOOR_PATH} HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            return Call(head.encode() + body, minor, target.invoice_number)

        return floor_pay, check_floor_pay
    if kind == "invoice":
        ready = [
            Call(
                _request(
                    host,
                    GRAPHQL_PATH,
                    t.token,
                    _graphql(INVOICE_QUERY, {"number": t.invoice_number}),
                ),
                expect=t.invoice_number,
            )
            for t in targets
        ]
        return lambda: rng.choice(ready), check_invoice
    if kind == "viewer":
        ready = [
            Call(
                _request(host, GRAPHQL_PATH, t.token, _graphql(VIEWER_QUERY, {})),
                expect=t.customer_id,
            )
            for t in targets
        ]
        return lambda: rng.choice(ready), check_viewer
    if kind == "page":
        pager = targets[0]
        first, rows = spec["page_first_number"], spec["page_rows"]

        def page() -> Call:
            after = first - 1 + rng.randint(0, rows - PAGE_SIZE)
            variables = {"first": PAGE_SIZE, "after": cursor(after) if after >= first else None}
            raw = _request(host, GRAPHQL_PATH, pager.token, _graphql(PAGE_QUERY, variables))
            return Call(raw, expect=after)

        return page, check_page
    if kind == "heavy":
        pager = targets[0]
        first, rows, aliases = spec["page_first_number"], spec["page_rows"], spec["heavy_aliases"]
        query = heavy_query(aliases)

        def heavy() -> Call:
            starts = [first - 1 + rng.randint(0, rows - HEAVY_PAGE) for _ in range(aliases)]
            variables = {
                f"c{i}": cursor(after) if after >= first else None for i, after in enumerate(starts)
            }
            raw = _request(host, GRAPHQL_PATH, pager.token, _graphql(query, variables))
            return Call(raw, expect=aliases)

        return heavy, check_heavy
    raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
