"""Text every backend can store, checked at each edge before it reaches the database."""

from __future__ import annotations

from collections.abc import Mapping

from app.errors import InvalidRequest


def storable(value: str) -> bool:
    """No NUL character (PostgreSQL text cannot hold one) and no lone surrogate ("\\ud800"
    is valid JSON but not Unicode text): on PostgreSQL either would fail, not be refused."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_lengths(limits: Mapping[str, tuple[str | None, int]], key: str | None) -> None:
    """Refuse (`InvalidRequest`) text fields longer than any real request has, by their
    names in `limits`, and an idempotency `key` that is blank."""
    for name, (value, limit) in limits.items():
        if value is not None and len(value) > limit:
            raise InvalidRequest(name, "TOO_LONG")
    if key is not None and not key.strip():
        raise InvalidRequest("idempotencyKey", "EMPTY")
