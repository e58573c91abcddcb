"""`schema.graphql` is the exported schema: the file and the code never drift apart."""

from pathlib import Path

from app import errors
from app.api.graphql.errors import mapped_errors
from app.api.graphql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schema.graphql"


def test_schema_file_equals_the_exported_schema() -> None:
    # Regenerate with: make schema
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n"


def test_every_domain_error_has_a_graphql_type() -> None:
    assert mapped_errors() == set(errors.ERROR_TYPES.values())


def test_design_names_are_in_the_schema() -> None:
    text = SCHEMA_FILE.read_text()
    for name in (
        "scalar Decimal",
        "type Money",
        "enum InvoiceStatus",
        "type Invoice implements Node",
        "type Wallet implements Node",
        "type Payment implements Node",
        "input PayInvoiceInput",
        "type PayInvoiceSuccess",
        "union PayInvoiceResult = PayInvoiceSuccess | UserNotFound | CurrencyNotFound"
        " | InvoiceNotFound | InvoiceOwnershipMismatch | CurrencyMismatch | InvoiceAlreadyPaid"
        " | InvoiceVoid | WalletNotFound | WrongAmount | InsufficientFunds | IdempotencyKeyReused",
        "payInvoice(input: PayInvoiceInput!): PayInvoiceResult!",
    ):
        assert name in text, name
