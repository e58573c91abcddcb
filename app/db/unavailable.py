"""Failures that mean "not now" rather than "wrong": the database down, restarting or
unreachable, a connection lost mid-request, the pool exhausted, a bounded wait that ran
out, the rate-limit store gone. Such a request changed nothing (its transaction never
committed) and is answered 503 with `Retry-After`, so clients retry it, ideally with
the same `Idempotency-Key`."""

from __future__ import annotations

import redis.exceptions
from sqlalchemy import exc

SERVICE_UNAVAILABLE = "Service temporarily unavailable, please retry"
SERVICE_UNAVAILABLE_CODE = "SERVICE_UNAVAILABLE"
RETRY_AFTER_SECONDS = 1

# PostgreSQL SQLSTATEs: class 08 (connection exception), 57P01-57P03 (admin shutdown,
# crash shutdown, cannot connect now), 57014 (statement timeout), 55P03 (lock timeout),
# 53300 (too many connections).
_PG_STATES = ("08", "57P01", "57P02", "57P03", "57014", "55P03", "53300")
# SQLite: busy past busy_timeout, or its file unreachable.
_SQLITE_MESSAGES = ("database is locked", "unable to open database file", "disk i/o error")
_DRIVER_STATE_ERRORS = ("InterfaceError", "InternalClientError")
_LOST_CONNECTION_MESSAGES = ("connection", "another operation")
_GONE = (
    exc.TimeoutError,  # the pool had no connection within its timeout
    OSError,  # connection refused or reset, connect timeout (TimeoutError)
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return chain


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) is a "not now" failure of a backing store."""
    for cause in _causes(error):
        if isinstance(cause, _GONE):
            return True
        if isinstance(cause, exc.DBAPIError) and cause.connection_invalidated:
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_PG_STATES):
            return True
        # asyncpg's "connection is closed" (no SQLSTATE), as the driver adapter re-raises
        # it; and its protocol caught mid-way by the server ending the connection ("cannot
        # switch to state 12; another operation (2) is in progress", raised before the
        # statement is sent: MagicStack/asyncpg#784).
        if type(cause).__name__ in _DRIVER_STATE_ERRORS and any(
            text in str(cause).lower() for text in _LOST_CONNECTION_MESSAGES
        ):
            return True
        if isinstance(cause, exc.OperationalError) and any(
            text in str(cause).lower() for text in _SQLITE_MESSAGES
        ):
            return True
    return False
