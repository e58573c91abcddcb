"""Tools every part of the app uses and that know nothing of it: money in minor units
(`money`), text every backend can store (`text`), secrets kept out of logs (`redact`) and
terminal output for the CLI (`console`). Nothing here imports from the rest of `app`,
except the domain error a missing currency is (`app.errors`)."""

from app.kit.money import Currency, find_currency, require_currency, to_decimal, to_minor
from app.kit.redact import redact
from app.kit.text import storable

__all__ = [
    "Currency",
    "find_currency",
    "redact",
    "require_currency",
    "storable",
    "to_decimal",
    "to_minor",
]
