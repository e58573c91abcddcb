"""`invoicepay refund`: an operator refunds a payment from the command line."""

from __future__ import annotations

import asyncio

import pytest

from app.cli import commands as cli
from tests.support.cli import demo_payment, set_cli_env


@pytest.fixture
def payment(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A 5000.00 NGN payment of the demo's invoice 100123, on a CLI-ready database."""
    set_cli_env(monkeypatch, database_url)
    assert cli.main(["seed", "--demo"]) == 0
    return asyncio.run(demo_payment(database_url))


def test_a_partial_refund_prints_the_refund_and_what_is_left(
    payment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.main(["refund", payment, "--amount", "1000.50", "--reason", "charged twice"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("refund ref_")
    assert f"of 1000.50 NGN from payment {payment}: 1000.50 NGN credited" in out
    assert "invoice 100123 PARTIALLY_PAID, 3999.50 NGN left to refund" in out
    # and the rest, then nothing more
    assert cli.main(["refund", payment]) == 0
    assert "0.00 NGN left to refund" in capsys.readouterr().out
    assert cli.main(["refund", payment]) == 1
    assert "Refund exceeds what is left to refund" in capsys.readouterr().err
    assert cli.main(["ledger", "verify"]) == 0


def test_an_unknown_or_other_tenants_payment_is_not_found(
    payment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.main(["refund", "pay_" + "0" * 24]) == 1
    assert "Payment not found" in capsys.readouterr().err
    assert cli.main(["refund", payment, "--clone", "64f0000000000000000000aa"]) == 1
    assert "Payment not found" in capsys.readouterr().err


@pytest.mark.parametrize("amount", ["1e3", "\u0661\u0660", "NaN", "abc"])
def test_an_amount_that_is_not_a_plain_decimal_is_a_usage_error(
    payment: str, amount: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["refund", payment, "--amount", amount]) == 2
    assert "is not a decimal amount" in capsys.readouterr().err
