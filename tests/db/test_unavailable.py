"""Which failures are "not now" (503, retry) and which are bugs (500): the live fault
tests (tests/stack/test_faults.py) meet the common ones; this table names each kind."""

from __future__ import annotations

import errno

import asyncpg.exceptions as pg
import pytest
import redis.exceptions
from sqlalchemy import exc

from app.db.unavailable import is_unavailable


def wrapped(error: Exception, *, invalidated: bool = False) -> exc.DBAPIError:
    """As SQLAlchemy raises a driver's error: wrapped, the driver's error as `orig`."""
    wrapper = exc.OperationalError("SELECT 1", None, error, connection_invalidated=invalidated)
    wrapper.__cause__ = error
    return wrapper


NOT_NOW = {
    "pool exhausted": exc.TimeoutError("QueuePool limit reached"),
    "connection refused": ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    "connect timeout": TimeoutError(),
    "connect failed (asyncio)": OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    "server shutting down": wrapped(pg.AdminShutdownError("terminating connection")),
    "server starting up": wrapped(pg.CannotConnectNowError("the database system is starting")),
    "statement timeout": wrapped(pg.QueryCanceledError("canceling statement")),
    "lock timeout": wrapped(pg.LockNotAvailableError("could not obtain lock")),
    "connection lost": wrapped(pg.ConnectionDoesNotExistError("connection was closed")),
    "connection closed under the driver": wrapped(pg.InterfaceError("connection is closed")),
    "protocol cut mid-way by the server (raw asyncpg)": pg.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    ),
    "disconnect detected": wrapped(RuntimeError("closed"), invalidated=True),
    "sqlite busy": wrapped(Exception("database is locked")),
    "sqlite file unreachable": wrapped(Exception("unable to open database file")),
    "redis down": redis.exceptions.ConnectionError("Error 111 connecting"),
    "redis timeout": redis.exceptions.TimeoutError("Timeout reading"),
}

BUGS = {
    "unique violation": exc.IntegrityError("INSERT", None, pg.UniqueViolationError("dup")),
    "bad SQL": exc.ProgrammingError("SELEC", None, Exception("syntax error")),
    "sqlite no such table": wrapped(Exception("no such table: wallets")),
    "a plain bug": ValueError("nope"),
    "a key error": KeyError("balance"),
    "wrong arguments (raw asyncpg)": pg.InterfaceError(
        "the server expects 27 arguments for this query, 26 were passed"
    ),
}


@pytest.mark.parametrize("error", NOT_NOW.values(), ids=NOT_NOW.keys())
def test_a_store_that_cannot_serve_now_is_unavailable(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize("error", BUGS.values(), ids=BUGS.keys())
def test_a_bug_is_not_unavailable(error: Exception) -> None:
    assert not is_unavailable(error)
