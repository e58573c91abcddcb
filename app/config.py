"""Configuration from the environment (a `.env` file is read if present)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import load_dotenv

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./invoicepay.db"
MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_CHARS = 16
LOG_FORMATS = ("json", "text")
# Websockets (app.http.websocket_limits): the graphql-ws reference server's init wait; a
# browser holds one socket per tab; a per-process total well under the usual 1024 file
# descriptors, so a flood of idle sockets never starves HTTP and the database of them.
DEFAULT_WS_INIT_TIMEOUT = 3.0
DEFAULT_WS_MAX_PER_CLIENT = 20
DEFAULT_WS_MAX_CONNECTIONS = 500
N = TypeVar("N", int, float)
DEFAULT_GRAPHQL_MAX_COST = 10_000  # app/api/graphql/cost.py: the formula
DEFAULT_GRAPHQL_TIMEOUT = 10.0  # seconds; app/kit/deadline.py
DEFAULT_OTEL_SERVICE_NAME = "invoicepay"
DEFAULT_EVENT_GAP_GRACE = 5.0  # seconds; app/events/hub.py: gaps


class ConfigError(Exception):
    """The configuration cannot run safely; the process must not start."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1")
    return int(value)


def _positive_seconds(env: dict[str, str], name: str, default: float) -> float:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{name} must be a number of seconds above 0")
    return seconds


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _otlp_endpoint(value: str | None) -> str | None:
    endpoint = (value or "").strip()
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL")
    return endpoint


def _positive(env: dict[str, str], name: str, kind: type[N], default: N) -> N:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    rate_limit: str = "60/minute"
    rate_limit_storage_url: str = "memory://"
    trusted_proxies: tuple[str, ...] = ()
    blocked_ips: tuple[str, ...] = ()
    # Production unless said otherwise: a deploy that forgets ENVIRONMENT stays locked down.
    environment: str = "production"
    graphiql: bool = False
    log_level: str = "INFO"
    log_format: str = "text"  # "json": one JSON object per line (app.observability.logs)
    metrics_token: str | None = None  # /metrics wants `Authorization: Bearer <it>`
    ws_init_timeout: float = DEFAULT_WS_INIT_TIMEOUT  # seconds to send `connection_init`
    ws_max_per_client: int = DEFAULT_WS_MAX_PER_CLIENT  # open websockets per client address
    ws_max_connections: int = DEFAULT_WS_MAX_CONNECTIONS  # open websockets in this process
    graphql_max_cost: int = DEFAULT_GRAPHQL_MAX_COST
    graphql_timeout: float = DEFAULT_GRAPHQL_TIMEOUT
    # Seconds the outbox reader waits at a missing seq before skipping it (app.events.hub).
    event_gap_grace: float = DEFAULT_EVENT_GAP_GRACE
    # Tracing (app.observability.tracing) is on only when this is set; the standard names.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = DEFAULT_OTEL_SERVICE_NAME

    @property
    def serves_metrics(self) -> bool:
        """/metrics is served in development, and in production only behind a token."""
        return self.metrics_token is not None or not self.is_production

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        if env is None:
            # The working directory's .env; real environment variables win.
            load_dotenv(Path.cwd() / ".env", override=False)
            env = dict(os.environ)
        environment = (env.get("ENVIRONMENT") or "production").strip().lower() or "production"
        if environment not in {"development", "production"}:
            raise ConfigError("ENVIRONMENT must be 'development' or 'production'")
        default_format = "json" if environment == "production" else "text"
        log_format = (env.get("LOG_FORMAT") or default_format).strip().lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError("LOG_FORMAT must be 'json' or 'text'")
        metrics_token = env.get("METRICS_TOKEN") or None
        if metrics_token is not None and len(metrics_token) < MIN_METRICS_TOKEN_CHARS:
            raise ConfigError(
                f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_CHARS} characters long"
            )
        return cls(
            otel_exporter_otlp_endpoint=_otlp_endpoint(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")),
            otel_service_name=(env.get("OTEL_SERVICE_NAME") or "").strip()
            or DEFAULT_OTEL_SERVICE_NAME,
            graphql_max_cost=_positive(env, "GRAPHQL_MAX_COST", int, DEFAULT_GRAPHQL_MAX_COST),
            graphql_timeout=_positive(env, "GRAPHQL_TIMEOUT", float, DEFAULT_GRAPHQL_TIMEOUT),
            event_gap_grace=_positive(env, "EVENT_GAP_GRACE", float, DEFAULT_EVENT_GAP_GRACE),
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_public_key=env.get("JWT_PUBLIC_KEY") or None,
            jwt_jwks_url=env.get("JWT_JWKS_URL") or None,
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            rate_limit=env.get("RATE_LIMIT") or "60/minute",
            rate_limit_storage_url=env.get("RATE_LIMIT_STORAGE_URL") or "memory://",
            trusted_proxies=_csv(env.get("TRUSTED_PROXIES")),
            blocked_ips=_csv(env.get("BLOCKED_IPS")),
            environment=environment,
            graphiql=_flag(env.get("GRAPHIQL"), default=environment != "production"),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_format=log_format,
            metrics_token=metrics_token,
            ws_init_timeout=_positive_seconds(env, "WS_INIT_TIMEOUT", DEFAULT_WS_INIT_TIMEOUT),
            ws_max_per_client=_positive_int(env, "WS_MAX_PER_CLIENT", DEFAULT_WS_MAX_PER_CLIENT),
            ws_max_connections=_positive_int(env, "WS_MAX_CONNECTIONS", DEFAULT_WS_MAX_CONNECTIONS),
        )

    def check_signing(self) -> None:
        """Refuse to run without a strong way to verify tokens."""
        if self.jwt_public_key or self.jwt_jwks_url:
            return
        if self.jwt_secret is None:
            raise ConfigError("JWT_SECRET is not set (or set JWT_PUBLIC_KEY / JWT_JWKS_URL)")
        if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")

    def check_can_issue_tokens(self) -> None:
        """Refuse unless this service can sign tokens, not only verify them."""
        self.check_signing()
        if self.jwt_secret is None:
            raise ConfigError("issuing tokens needs JWT_SECRET (a public key only verifies them)")
