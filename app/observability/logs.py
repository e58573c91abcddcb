"""`LOG_FORMAT=json`: one JSON object per line, for every logger of the process (ours,
uvicorn's, libraries'), written by python-json-logger (its orjson formatter).

Each line has `timestamp` (UTC, ISO 8601), `level`, `logger`, `message`, and where known
`request_id`, `tenant`, `customer`, `operation`, `outcome` (a payment's), `exception`
(the traceback) and any `extra` the call passed. uvicorn's access line (one per request,
`--access-log`) becomes the request's summary: `method`, `path`, `status`, `client`,
`duration_ms` (until the response started).

Secrets are masked value by value (app.kit.redact), before the line is encoded, so masking
never breaks the JSON; being a `RedactingFormatter`, this formatter is not wrapped again
by `protect_logging`.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from pythonjsonlogger.orjson import OrjsonFormatter
from uvicorn.config import LOGGING_CONFIG

from app.http.request_context import REQUEST_ID
from app.kit.redact import RedactingFormatter, redact
from app.observability.request_info import current_request

ACCESS_LOGGER = "uvicorn.access"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's colourised copy of the message
    "request_id",
}
# Fields that only ever hold values we chose (levels, ids, names): not scanned for secrets.
_TRUSTED = frozenset({"timestamp", "level", "logger", "request_id", "tenant", "customer"})


def _timestamp(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


class _JsonFields(OrjsonFormatter):
    """python-json-logger's record to JSON, with our field names, the request's fields, and
    every value but the trusted ones masked before it is encoded."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            reserved_attrs=list(_STANDARD),
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = _timestamp(record.created)
        super().add_fields(log_data, record, message_dict)
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id != "-":
            log_data["request_id"] = request_id
        info = current_request()
        if info is not None:
            if info.tenant is not None:
                log_data["tenant"] = info.tenant
            if info.customer is not None:
                log_data["customer"] = info.customer
            log_data["operation"] = info.operation
            if info.outcome is not None:
                log_data["outcome"] = info.outcome
                if info.replayed:
                    log_data["replayed"] = True
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
            _access_fields(log_data, record.args)
            if info is not None:
                log_data["duration_ms"] = info.elapsed_ms()

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for key, value in log_data.items():
            if key in _TRUSTED or value is None or isinstance(value, bool | int | float):
                continue
            log_data[key] = redact(value if isinstance(value, str) else str(value))
        return log_data


class JsonFormatter(RedactingFormatter):
    """One JSON object per record; masked value by value (`_JsonFields`), never as a line."""

    def __init__(self) -> None:
        super().__init__(_JsonFields())

    def format(self, record: logging.LogRecord) -> str:
        return self.inner.format(record)


def _access_fields(entry: dict[str, Any], args: tuple[Any, ...]) -> None:
    """uvicorn's access record: (client, method, path with query, HTTP version, status)."""
    if len(args) != 5:
        return
    client, method, path, _version, status = args
    entry["message"] = f"{method} {path} {status}"
    entry.update(method=method, path=path, status=status, client=client)


class QuietProbes(logging.Filter):
    """Drops the access lines of probes and scrapes that succeeded: an orchestrator
    asks every few seconds, and its answers are in the metrics."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            path, status = args[2], args[4]
            if isinstance(status, int) and status < 400 and str(path) in PROBE_PATHS:
                return False
        return True


def uvicorn_log_config(json_lines: bool) -> dict[str, Any]:
    """uvicorn's own logging configuration, its lines as JSON when `json_lines`; either
    way quiet about successful probes."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if json_lines:
        for formatter in config["formatters"].values():
            formatter.clear()
            formatter["()"] = f"{__name__}.JsonFormatter"
    config.setdefault("filters", {})["quiet_probes"] = {"()": f"{__name__}.QuietProbes"}
    config["handlers"]["access"]["filters"] = ["quiet_probes"]
    return config
