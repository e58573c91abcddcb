"""No secret reaches a log line, whoever writes it: our code, uvicorn, or a library.

Every handler of the process gets two guards (`protect_logging`):

- `RedactingFormatter` masks, in the whole formatted line (message, arguments,
  traceback): any `Authorization` value, the credentials after `Bearer`/`Basic`, any JWT
  (`eyJ…`), any long mixed-case base64url run (what is left of a token that was cut
  short, as GraphQL error messages cut long input: its signature), and every run of
  digits (single spaces, dashes or URL-encoded spaces between them allowed, not inside
  a word like an id) that holds a 13-19 digit, Luhn-valid card number: all its digits
  but the last four become `*`. Query strings in uvicorn's access log and input echoed
  in GraphQL error messages are where card numbers and tokens show up.
- `DropWireDumps` drops the DEBUG records in which the websockets library dumps the
  raw handshake (the `Authorization` header) and frames (the `connection_init`
  payload with its token, cut short so no pattern can recognise it).

And aiosqlite's DEBUG records are silenced: they repeat every statement with its
parameters (memos, idempotency keys, session ids), which `Database` hides from
SQLAlchemy's own logs.
"""

from __future__ import annotations

import logging
import os
import re
import string

REDACTED = "[REDACTED]"
MIN_CARD_DIGITS = 13
MAX_CARD_DIGITS = 19

_AUTHORIZATION = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+")
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;)}\]]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}")
# 40+ characters of base64url with both cases: a signature (HS256 has 43), or a secret.
# Request ids and our object ids are lowercase hex, identifiers in tracebacks shorter.
_OPAQUE = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])[A-Za-z0-9_-]{40,}"
)
_DIGIT_RUN = re.compile(r"\d(?:(?:[ +-]|%20)?\d)*")
_PIECE = re.compile(r"%20|.")
_LETTERS = frozenset(string.ascii_letters)
# Packages whose DEBUG records are raw wire dumps (websockets' handshake and frames).
_WIRE_DUMPERS = tuple(f"{os.sep}{package}{os.sep}" for package in ("websockets", "wsproto"))
# Loggers whose DEBUG records carry SQL parameters.
_PARAMETER_DUMPERS = ("aiosqlite",)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def holds_card_number(digits: str) -> bool:
    """Whether any 13-19 digit stretch of `digits` is a card number: it does not start with
    0 and it passes the Luhn check. A very long run counts as one without checking: it
    almost surely holds one, and checking each of its stretches would cost a time that
    grows with what a client chose to send."""
    if len(digits) > 4 * MAX_CARD_DIGITS:
        return True
    for length in range(MIN_CARD_DIGITS, min(MAX_CARD_DIGITS, len(digits)) + 1):
        for start in range(len(digits) - length + 1):
            # No card number starts with 0 (ISO/IEC 7812): runs of zeros, as in a clone id
            # like 64f000000000000000000002, would pass the Luhn check.
            if digits[start] != "0" and luhn_valid(digits[start : start + length]):
                return True
    return False


def _glued_to_letters(match: re.Match[str]) -> bool:
    text, start, end = match.string, match.start(), match.end()
    return (start > 0 and text[start - 1] in _LETTERS) or (
        end < len(text) and text[end] in _LETTERS
    )


def _mask_digits(match: re.Match[str]) -> str:
    # Digits inside a word are part of an id (a request id, `wal_…`), not a card number.
    if _glued_to_letters(match):
        return match.group()
    # A URL-encoded space ("%20") is a separator, not the digits 2 and 0.
    pieces = _PIECE.findall(match.group())
    digits = "".join(piece for piece in pieces if piece.isdigit())
    if len(digits) < MIN_CARD_DIGITS or not holds_card_number(digits):
        return match.group()
    keep = len(digits) - 4
    masked: list[str] = []
    for piece in pieces:
        if piece.isdigit():
            masked.append("*" if keep > 0 else piece)
            keep -= 1
        else:
            masked.append(piece)
    return "".join(masked)


def redact(text: str) -> str:
    """`text` with credentials, tokens and card numbers masked."""
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = _CREDENTIALS.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub("[JWT]", text)
    text = _OPAQUE.sub(REDACTED, text)
    return _DIGIT_RUN.sub(_mask_digits, text)


class RedactingFormatter(logging.Formatter):
    """Formats with the handler's own formatter, then redacts the finished line."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class DropWireDumps(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        dump = record.levelno <= logging.DEBUG and any(
            package in record.pathname for package in _WIRE_DUMPERS
        )
        return not dump


def protect(handler: logging.Handler) -> None:
    if not isinstance(handler.formatter, RedactingFormatter):
        handler.setFormatter(RedactingFormatter(handler.formatter or logging.Formatter()))
    if not any(isinstance(existing, DropWireDumps) for existing in handler.filters):
        handler.addFilter(DropWireDumps())


def protect_logging() -> None:
    """Guard every handler configured so far (the root's, uvicorn's) and quiet the
    loggers that dump SQL parameters. Call after the last handler is set up."""
    root = logging.getLogger()
    for name in _PARAMETER_DUMPERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.getEffectiveLevel()))
    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            protect(handler)
