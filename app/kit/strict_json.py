"""JSON with one meaning: an object that repeats a key is refused, not read as its last value.

A gateway, a log or a WAF that reads the first of two `"amount"` keys must never see
another payment than the one the service makes, so both edges (REST, GraphQL over HTTP
and websockets) decode request JSON here (docs/design.md, "Protections at the edge").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any


class DuplicateKey(json.JSONDecodeError):
    """An object in the document names `path`'s last key twice (a JSONDecodeError, so a
    caller that refuses malformed JSON refuses this too)."""

    def __init__(self, path: str, document: str) -> None:
        super().__init__(f"duplicate key {path!r}", document, 0)
        self.path = path


class _Repeated(Exception):
    """Raised by the fast pass; the slow pass then finds where."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # dict() of the pairs is C-speed; only a length mismatch costs anything more.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Repeated
    return obj


class _Seen(dict[str, Any]):
    repeated: str | None = None


def _recording(pairs: list[tuple[str, Any]]) -> _Seen:
    obj = _Seen(pairs)
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen and obj.repeated is None:
            obj.repeated = key
        seen.add(key)
    return obj


def _first_repeated(value: Any, path: str) -> str | None:
    """The path of the first repeated key, depth first in document order."""
    if isinstance(value, _Seen):
        if value.repeated is not None:
            return f"{path}.{value.repeated}" if path else value.repeated
        for key, item in value.items():
            found = _first_repeated(item, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_repeated(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def loads(
    raw: str | bytes,
    *,
    parse_float: Callable[[str], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """`json.loads(raw)`, refusing a repeated key with DuplicateKey (its path, e.g.
    `partPaymentFromWalletBalance.chargeTotalCurrent`); other errors as json raises them."""
    try:
        return _decoder(parse_float, parse_constant).decode(_text(raw))
    except _Repeated:
        pass
    # Only a refused body pays for the second pass, which names the key for the answer
    # (and raises json's own error if the document is broken further on).
    tree = json.loads(
        raw, object_pairs_hook=_recording, parse_float=parse_float, parse_constant=parse_constant
    )
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    raise DuplicateKey(_first_repeated(tree, "") or "", text)


@cache
def _decoder(
    parse_float: Callable[[str], Any] | None, parse_constant: Callable[[str], Any] | None
) -> json.JSONDecoder:
    """The fast pass's decoder, made once (`json.loads` with these arguments makes one a call)."""
    return json.JSONDecoder(
        object_pairs_hook=_unique, parse_float=parse_float, parse_constant=parse_constant
    )


def _text(raw: str | bytes) -> str:
    """`raw` as `json.loads` reads it: bytes in UTF-8, -16 or -32, as their BOM or zeros say."""
    if isinstance(raw, str):
        return raw
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


def loads_exact(raw: str | bytes) -> Any:
    """Numbers as int or Decimal (never float); NaN and Infinity refused (ValueError)."""
    return loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
