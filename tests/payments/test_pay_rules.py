"""What a successful payInvoice does, through GraphQL, on both backends: full and partial
payments, payments across currencies rounded against the payer, currencies with 0 and 3
decimals, the early-payment discount, the payment's own fields, and how it reads back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.billing import admin
from app.db.engine import Database
from app.db.models import utcnow
from tests.support import (
    DEMO_CLONE,
    PAY,
    client_for,
    gql,
    invoice,
    ledger_imbalances,
    make_world,
    pay_through_graphql,
    pay_with,
    snapshot,
    wallet_books,
)

PAYMENT = """
query Payment($id: ID!) {
  payment(id: $id) {
    id amount { amount currency } walletDebit { amount currency } exchangeRate
    reference memo accountingCode
    invoice { number status }
    wallet { currency balance { amount } }
  }
  node(id: $id) {
    __typename id
    ... on Payment { amount { amount currency } reference }
  }
}
"""

WALLET_HISTORY = """
query History($currency: String!) {
  wallet(currency: $currency) {
    balance { amount }
    transactions(first: 10) {
      edges {
        node {
          kind amount { amount currency } balanceAfter { amount currency } reference
          payment { id }
        }
      }
    }
  }
}
"""


def succeeded(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["__typename"] == "PayInvoiceSuccess", answer
    assert answer["replayed"] is False
    return answer


async def test_no_amount_pays_the_whole_balance_due(db: Database) -> None:
    # given Ada's invoice of 15000 NGN and her NGN wallet of 50000
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    # when she pays it without an amount
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 100123))
    # then all 15000 is settled from her NGN wallet at rate 1
    assert answer["payment"]["amount"] == {"amount": "15000.00", "currency": "NGN"}
    assert answer["payment"]["walletDebit"] == {"amount": "15000.00", "currency": "NGN"}
    assert answer["payment"]["exchangeRate"] == "1"
    assert answer["payment"]["discount"] == {"amount": "0.00", "currency": "NGN"}
    assert answer["invoice"]["status"] == "PAID"
    assert answer["invoice"]["amountPaid"] == {"amount": "15000.00", "currency": "NGN"}
    assert answer["invoice"]["balanceDue"] == {"amount": "0.00", "currency": "NGN"}
    assert answer["wallet"]["balance"] == {"amount": "35000.00", "currency": "NGN"}


async def test_a_partial_payment_then_the_rest_pays_the_invoice(db: Database) -> None:
    # given Ada's invoice of 15000 NGN
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        # when she pays 4000.50, then the rest without an amount
        first = succeeded(await pay_with(client, world.ada_token, 100123, amount="4000.50"))
        second = succeeded(
            await pay_with(client, world.ada_token, 100123, expectedBalanceDue="10999.50")
        )
    # then the invoice is PARTIALLY_PAID with 10999.50 left, then PAID
    assert first["invoice"]["status"] == "PARTIALLY_PAID"
    assert first["invoice"]["balanceDue"]["amount"] == "10999.50"
    assert first["wallet"]["balance"]["amount"] == "45999.50"
    assert second["payment"]["amount"]["amount"] == "10999.50"
    assert second["invoice"]["status"] == "PAID"
    assert second["invoice"]["amountPaid"] == {"amount": "15000.00", "currency": "NGN"}
    assert second["invoice"]["balanceDue"]["amount"] == "0.00"
    assert len(second["invoice"]["payments"]) == 2
    assert second["wallet"]["balance"]["amount"] == "35000.00"


async def test_a_usd_wallet_pays_an_ngn_invoice_with_the_debit_rounded_up(db: Database) -> None:
    # given Ada's NGN invoice of 15000.01 and her USD wallet of 500
    world = await make_world(db)
    await invoice(db, 7, world.ada, "15000.01")
    # when she pays it from USD at 1500 NGN per USD (exactly 10.0000066… USD)
    request = {"walletCurrency": "USD", "exchangeRate": "1500"}
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 7, **request))
    # then the USD debit is rounded up to the cent: 10.01, never 10.00
    payment = answer["payment"]
    assert payment["amount"] == {"amount": "15000.01", "currency": "NGN"}
    assert payment["walletDebit"] == {"amount": "10.01", "currency": "USD"}
    assert payment["exchangeRate"] == "1500"
    assert answer["invoice"]["status"] == "PAID"
    assert answer["wallet"]["balance"] == {"amount": "489.99", "currency": "USD"}
    # and every ledger transaction balances in each currency
    assert await ledger_imbalances(db) == []
    usd = await wallet_books(db, world.ada, "USD")
    assert usd.balance == usd.ledger_sum == 48999


async def test_a_fractional_rate_rounds_the_debit_up_too(db: Database) -> None:
    # given Ada's NGN invoice of 1000 and her USD wallet of 500
    world = await make_world(db)
    await invoice(db, 8, world.ada, "1000")
    # when she pays it at 1501.5 NGN per USD (0.66600066… USD)
    request = {"walletCurrency": "USD", "exchangeRate": "1501.5"}
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 8, **request))
    # then she pays 0.67 USD and the rate is returned as given
    assert answer["payment"]["walletDebit"] == {"amount": "0.67", "currency": "USD"}
    assert answer["payment"]["exchangeRate"] == "1501.5"
    assert answer["wallet"]["balance"]["amount"] == "499.33"
    assert await ledger_imbalances(db) == []


@pytest.mark.parametrize(
    ("currency", "wallet", "total", "part", "rest", "wallet_after"),
    [
        ("JPY", "10000", "5000", "1200", "3800", "5000"),  # no decimals
        ("KWD", "100", "12.345", "2.005", "10.340", "87.655"),  # three decimals (fils)
    ],
)
async def test_invoices_are_paid_in_their_currencys_own_minor_unit(
    db: Database, currency: str, wallet: str, total: str, part: str, rest: str, wallet_after: str
) -> None:
    # given Ada's invoice and a wallet in a currency whose exponent is not 2
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, currency, Decimal(wallet))
    await invoice(db, 9, world.ada, total, currency)
    async with client_for(db) as client:
        # when she pays a part and then the rest
        first = succeeded(
            await pay_through_graphql(
                client,
                PAY,
                world.ada_token,
                {"invoiceNumber": 9, "currency": currency, "amount": part},
            )
        )
        second = succeeded(
            await pay_through_graphql(
                client, PAY, world.ada_token, {"invoiceNumber": 9, "currency": currency}
            )
        )
    # then every amount has exactly the currency's decimals
    assert first["payment"]["amount"] == {"amount": part, "currency": currency}
    assert first["invoice"]["balanceDue"] == {"amount": rest, "currency": currency}
    assert second["payment"]["amount"]["amount"] == rest
    assert second["invoice"]["status"] == "PAID"
    assert second["wallet"]["balance"] == {"amount": wallet_after, "currency": currency}


async def test_the_early_payment_discount_pays_4750_of_5000(db: Database) -> None:
    # given Ada's invoice of 5000 NGN at 5 % off until next week
    world = await make_world(db)
    until = utcnow() + timedelta(days=7)
    await invoice(db, 11, world.ada, "5000", discount_percent=Decimal("5"), discount_until=until)
    # when she pays it with the discount and no amount
    request = {"applyEarlyPaymentDiscount": True}
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 11, **request))
    # then she pays 4750, 250 is discounted and the invoice is PAID
    assert answer["payment"]["amount"] == {"amount": "4750.00", "currency": "NGN"}
    assert answer["payment"]["discount"] == {"amount": "250.00", "currency": "NGN"}
    assert answer["payment"]["walletDebit"] == {"amount": "4750.00", "currency": "NGN"}
    assert answer["invoice"]["status"] == "PAID"
    assert answer["invoice"]["discountApplied"] == {"amount": "250.00", "currency": "NGN"}
    assert answer["invoice"]["amountPaid"] == {"amount": "4750.00", "currency": "NGN"}
    assert answer["invoice"]["balanceDue"]["amount"] == "0.00"
    assert answer["wallet"]["balance"]["amount"] == "45250.00"


async def test_the_discount_needs_the_whole_discounted_balance(db: Database) -> None:
    # given Ada's invoice of 5000 NGN at 5 % off until next week
    world = await make_world(db)
    until = utcnow() + timedelta(days=7)
    await invoice(db, 12, world.ada, "5000", discount_percent=Decimal("5"), discount_until=until)
    request = {"applyEarlyPaymentDiscount": True}
    before = await snapshot(db)
    async with client_for(db) as client:
        # when she claims the discount on a part payment
        part = await pay_with(client, world.ada_token, 12, **{**request, "amount": "1000"})
        # then it is refused and nothing moved
        assert part["__typename"] == "WrongAmount"
        assert part["reason"] == "DISCOUNT_NOT_APPLICABLE"
        assert await snapshot(db) == before
        # when she names the discounted total as the amount
        whole = succeeded(
            await pay_with(client, world.ada_token, 12, **{**request, "amount": "4750.00"})
        )
    # then it is accepted
    assert whole["invoice"]["status"] == "PAID"
    assert whole["payment"]["discount"]["amount"] == "250.00"


async def test_the_discount_is_refused_after_its_deadline(db: Database) -> None:
    # given Ada's invoice of 5000 NGN whose 5 % discount ended yesterday
    world = await make_world(db)
    until = utcnow() - timedelta(days=1)
    await invoice(db, 13, world.ada, "5000", discount_percent=Decimal("5"), discount_until=until)
    before = await snapshot(db)
    # when she claims the discount
    request = {"applyEarlyPaymentDiscount": True}
    async with client_for(db) as client:
        answer = await pay_with(client, world.ada_token, 13, **request)
    # then WrongAmount DISCOUNT_NOT_APPLICABLE, the full 5000 still due, nothing written
    assert answer["__typename"] == "WrongAmount"
    assert answer["reason"] == "DISCOUNT_NOT_APPLICABLE"
    assert answer["balanceDue"] == {"amount": "5000.00", "currency": "NGN"}
    assert await snapshot(db) == before


async def test_the_discount_is_refused_after_a_partial_payment(db: Database) -> None:
    # given Ada's discounted invoice of 5000 NGN of which she already paid 1000
    world = await make_world(db)
    until = utcnow() + timedelta(days=7)
    await invoice(db, 14, world.ada, "5000", discount_percent=Decimal("5"), discount_until=until)
    async with client_for(db) as client:
        succeeded(await pay_with(client, world.ada_token, 14, amount="1000"))
        before = await snapshot(db)
        # when she claims the discount on the rest
        request = {"applyEarlyPaymentDiscount": True}
        answer = await pay_with(client, world.ada_token, 14, **request)
    # then it is refused and nothing moved
    assert answer["__typename"] == "WrongAmount"
    assert answer["reason"] == "DISCOUNT_NOT_APPLICABLE"
    assert answer["balanceDue"] == {"amount": "4000.00", "currency": "NGN"}
    assert await snapshot(db) == before


async def test_reference_memo_and_accounting_code_are_stored_and_read_back(
    db: Database,
) -> None:
    # given Ada's invoice of 15000 NGN
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    request = {
        "amount": "5000",
        "reference": "PO-2024-0042",
        "memo": "First instalment, as agreed",
        "accountingCode": "4010-REV",
    }
    async with client_for(db) as client:
        # when she pays with a reference, a memo and an accounting code
        answer = succeeded(await pay_with(client, world.ada_token, 100123, **request))
        payment_id = answer["payment"]["id"]
        # and later reads the payment back by id, and as a node
        read = await gql(client, PAYMENT, {"id": payment_id}, world.ada_token)
    # then the payment answered and the payment stored both carry them
    assert answer["payment"]["reference"] == "PO-2024-0042"
    assert answer["payment"]["memo"] == "First instalment, as agreed"
    assert answer["payment"]["accountingCode"] == "4010-REV"
    assert payment_id.startswith("pay_")
    assert "errors" not in read, read
    stored = read["data"]["payment"]
    assert stored == {
        "id": payment_id,
        "amount": {"amount": "5000.00", "currency": "NGN"},
        "walletDebit": {"amount": "5000.00", "currency": "NGN"},
        "exchangeRate": "1",
        "reference": "PO-2024-0042",
        "memo": "First instalment, as agreed",
        "accountingCode": "4010-REV",
        "invoice": {"number": 100123, "status": "PARTIALLY_PAID"},
        "wallet": {"currency": "NGN", "balance": {"amount": "45000.00"}},
    }
    assert read["data"]["node"] == {
        "__typename": "Payment",
        "id": payment_id,
        "amount": {"amount": "5000.00", "currency": "NGN"},
        "reference": "PO-2024-0042",
    }


async def test_another_customer_cannot_read_the_payment(db: Database) -> None:
    # given Ada's payment
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 100123))
        # when Bola asks for it by id and as a node
        read = await gql(client, PAYMENT, {"id": answer["payment"]["id"]}, world.bola_token)
    # then it does not exist for him
    assert read["data"] == {"payment": None, "node": None}


async def test_wallet_transactions_list_the_entries_with_the_balance_after(
    db: Database,
) -> None:
    # given Ada's NGN wallet topped up with 50000 and two invoices
    world = await make_world(db)
    await invoice(db, 21, world.ada, "15000")
    await invoice(db, 22, world.ada, "2500.25")
    async with client_for(db) as client:
        # when she pays both
        first = succeeded(await pay_with(client, world.ada_token, 21, reference="r-21"))
        second = succeeded(await pay_with(client, world.ada_token, 22))
        history = await gql(client, WALLET_HISTORY, {"currency": "NGN"}, world.ada_token)
    # then her history lists them newest first, each with the balance right after it
    assert "errors" not in history, history
    wallet = history["data"]["wallet"]
    assert wallet["balance"] == {"amount": "32499.75"}
    nodes = [edge["node"] for edge in wallet["transactions"]["edges"]]
    ngn = "NGN"
    assert nodes == [
        {
            "kind": "PAYMENT",
            "amount": {"amount": "-2500.25", "currency": ngn},
            "balanceAfter": {"amount": "32499.75", "currency": ngn},
            "reference": None,
            "payment": {"id": second["payment"]["id"]},
        },
        {
            "kind": "PAYMENT",
            "amount": {"amount": "-15000.00", "currency": ngn},
            "balanceAfter": {"amount": "35000.00", "currency": ngn},
            "reference": "r-21",
            "payment": {"id": first["payment"]["id"]},
        },
        {
            "kind": "TOP_UP",
            "amount": {"amount": "50000.00", "currency": ngn},
            "balanceAfter": {"amount": "50000.00", "currency": ngn},
            "reference": None,
            "payment": None,
        },
    ]
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == books.ledger_sum == 3249975


async def test_a_rate_of_exactly_one_is_accepted_for_the_same_currency(db: Database) -> None:
    # given Ada's NGN invoice of 1000
    world = await make_world(db)
    await invoice(db, 30, world.ada, "1000")
    # when she pays it from her NGN wallet naming the rate as "1.000"
    request = {"walletCurrency": "NGN", "exchangeRate": "1.000"}
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 30, **request))
    # then it is paid at rate 1, the debit equal to the amount
    assert answer["payment"]["exchangeRate"] == "1"
    assert answer["payment"]["walletDebit"] == {"amount": "1000.00", "currency": "NGN"}


@pytest.mark.parametrize(
    ("currency", "total", "wallet_currency", "rate", "debit"),
    [
        pytest.param("NGN", "1500.00", "USD", "1500", "1.00", id="exact: no cent added"),
        pytest.param("JPY", "1000", "USD", "151.37", "6.61", id="JPY from USD: 6.6063…"),
        pytest.param("USD", "10.00", "JPY", "0.0067", "1493", id="USD from JPY: 1492.53…"),
        pytest.param("NGN", "1000", "KWD", "5000.3", "0.200", id="NGN from KWD: 0.19998…"),
        pytest.param("KWD", "0.001", "NGN", "0.0002", "5.00", id="one fils from NGN"),
    ],
)
async def test_a_cross_currency_debit_is_rounded_up_to_the_wallets_minor_unit(
    db: Database, currency: str, total: str, wallet_currency: str, rate: str, debit: str
) -> None:
    # given Ada's invoice and a funded wallet in another currency
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, wallet_currency, Decimal("5000"))
    await invoice(db, 40, world.ada, total, currency)
    # when she pays it from that wallet at the rate
    request = {"currency": currency, "walletCurrency": wallet_currency, "exchangeRate": rate}
    async with client_for(db) as client:
        answer = succeeded(await pay_with(client, world.ada_token, 40, **request))
    # then the debit is the amount over the rate, rounded up in the wallet's decimals
    assert answer["payment"]["walletDebit"] == {"amount": debit, "currency": wallet_currency}
    assert answer["payment"]["exchangeRate"] == rate
    assert answer["invoice"]["status"] == "PAID"
    assert await ledger_imbalances(db) == []
    books = await wallet_books(db, world.ada, wallet_currency)
    assert books.balance == books.ledger_sum
