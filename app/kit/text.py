"""Text every backend can store, checked at each edge before it reaches the database."""

from __future__ import annotations


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
