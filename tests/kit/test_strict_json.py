"""`app.kit.strict_json.loads` reads what `json.loads` reads (text, and bytes in any
encoding JSON allows), refuses a repeated key, and makes its decoder once."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.kit import strict_json
from app.kit.strict_json import DuplicateKey, loads, loads_exact

DOCUMENT = '{"invoice": 100123, "amount": 1.50, "memo": "Zoë ✓", "tags": [1, {"a": null}]}'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_bytes_in_any_json_encoding_read_as_json_reads_them(encoding: str) -> None:
    raw = DOCUMENT.encode(encoding)
    assert loads(raw) == json.loads(raw)


def test_text_and_exact_numbers() -> None:
    assert loads(DOCUMENT) == json.loads(DOCUMENT)
    assert loads_exact(DOCUMENT)["amount"] == Decimal("1.50")


def test_a_repeated_key_is_refused_with_its_path() -> None:
    with pytest.raises(DuplicateKey) as refused:
        loads_exact(b'{"a": {"b": 1, "b": 2}}')
    assert refused.value.path == "a.b"


def test_the_decoder_is_made_once() -> None:
    strict_json._decoder.cache_clear()
    for _ in range(3):
        loads_exact(DOCUMENT)
    assert strict_json._decoder.cache_info().misses == 1
