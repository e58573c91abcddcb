"""Configuration from the environment (a `.env` file is read if present), with
pydantic-settings.

`Settings.from_env()` is the one way to read the environment; `Settings(...)` takes its
values as given (tests, benchmarks) and never reads the environment. A value that is not
of its variable's form raises `BadSetting`, whose message is one line naming the variable
(`LOG_LEVEL=LOUD: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL`); secrets are
`SecretStr`, so neither they nor the database password show in a repr or an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import load_dotenv
from pydantic import (
    BeforeValidator,
    SecretStr,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./invoicepay.db"
MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_CHARS = 16
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ENVIRONMENTS = ("development", "production")
# Websockets (app.http.websocket_limits): the graphql-ws reference server's init wait; a
# browser holds one socket per tab; a per-process total well under the usual 1024 file
# descriptors, so a flood of idle sockets never starves HTTP and the database of them.
DEFAULT_WS_INIT_TIMEOUT = 3.0
DEFAULT_WS_MAX_PER_CLIENT = 20
DEFAULT_WS_MAX_CONNECTIONS = 500
DEFAULT_GRAPHQL_MAX_COST = 10_000  # app/api/graphql/cost.py: the formula
DEFAULT_GRAPHQL_TIMEOUT = 10.0  # seconds; app/kit/deadline.py
DEFAULT_OTEL_SERVICE_NAME = "invoicepay"
# Seconds between a webhook's attempts (app.webhooks.schedule): about 3 days in all.
DEFAULT_WEBHOOK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0) + (36000.0,) * 6
DEFAULT_EVENT_RETENTION_DAYS = 30
MAX_RETRY_DELAY_SECONDS = 7 * 86400
# Fields whose value an error message must not repeat.
_SECRET_FIELDS = frozenset({"jwt_secret", "metrics_token", "database_url"})
_SHOWN_CHARS = 40
DEFAULT_EVENT_GAP_GRACE = 5.0  # seconds; app/events/hub.py: gaps


class ConfigError(Exception):
    """The configuration cannot run safely; the process must not start."""


class BadSetting(ConfigError):
    """A variable's value is not of its form (a word for a number, an unknown choice)."""


def _whole_number(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number of at least 1")
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _seconds(value: object) -> object:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be a number of seconds above 0")
    return seconds


def _one_of(choices: tuple[str, ...], case: Literal["upper", "lower"]) -> BeforeValidator:
    def check(value: object) -> object:
        word = str(value).strip()
        word = word.upper() if case == "upper" else word.lower()
        if word not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return word

    return BeforeValidator(check)


def _flag(value: object) -> object:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off"}:
            return False
        raise ValueError("must be on or off (true/false, yes/no, 1/0)")
    return value


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _metrics_token(value: object) -> object:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str) and len(text) < MIN_METRICS_TOKEN_CHARS:
        raise ValueError(f"must be at least {MIN_METRICS_TOKEN_CHARS} characters long")
    return value


def _otlp_endpoint(value: object) -> object:
    if isinstance(value, str):
        endpoint = value.strip()
        if not endpoint:
            return None
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return endpoint
    return value


def _retry_schedule(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        delays = ()
    if not delays or not all(math.isfinite(d) and 0 < d <= MAX_RETRY_DELAY_SECONDS for d in delays):
        raise ValueError(
            "must be comma-separated seconds, each above 0 and at most a week (e.g. 5,300,1800)"
        )
    return delays


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Addresses = Annotated[tuple[str, ...], BeforeValidator(_csv)]


class _Environment(EnvSettingsSource):
    """The variables of `env` by their names (any case; an empty one counts as unset)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self.given = env
        super().__init__(settings_cls, case_sensitive=False, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Lower-case keys: how the case-insensitive source looks names up.
        return {name.lower(): value for name, value in self.given.items() if value != ""}


class Settings(BaseSettings):
    # Frozen and hashable: app.api.graphql.schema caches a schema per settings.
    # Values are plain text, never JSON (TRUSTED_PROXIES is comma-separated).
    model_config = SettingsConfigDict(frozen=True, extra="forbid", enable_decoding=False)

    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    rate_limit: str = "60/minute"
    rate_limit_storage_url: str = "memory://"
    trusted_proxies: Addresses = ()
    blocked_ips: Addresses = ()
    # Production unless said otherwise: a deploy that forgets ENVIRONMENT stays locked down.
    environment: Annotated[str, _one_of(ENVIRONMENTS, "lower")] = "production"
    graphiql: Flag = False  # default: on in development (`_defaults_of_the_environment`)
    log_level: Annotated[str, _one_of(LOG_LEVELS, "upper")] = "INFO"
    # "json": one JSON object per line (app.observability.logs); default: json in production
    log_format: Annotated[str, _one_of(LOG_FORMATS, "lower")] = "json"
    # /metrics wants `Authorization: Bearer <it>`
    metrics_token: Annotated[SecretStr | None, BeforeValidator(_metrics_token)] = None
    ws_init_timeout: Seconds = DEFAULT_WS_INIT_TIMEOUT  # seconds to send `connection_init`
    ws_max_per_client: WholeNumber = DEFAULT_WS_MAX_PER_CLIENT  # websockets per client address
    ws_max_connections: WholeNumber = DEFAULT_WS_MAX_CONNECTIONS  # websockets in this process
    graphql_max_cost: WholeNumber = DEFAULT_GRAPHQL_MAX_COST
    graphql_timeout: Seconds = DEFAULT_GRAPHQL_TIMEOUT
    # Seconds the outbox reader waits at a missing seq before skipping it (app.events.hub).
    event_gap_grace: Seconds = DEFAULT_EVENT_GAP_GRACE
    # Tracing (app.observability.tracing) is on only when this is set; the standard names.
    otel_exporter_otlp_endpoint: Annotated[str | None, BeforeValidator(_otlp_endpoint)] = None
    otel_service_name: str = DEFAULT_OTEL_SERVICE_NAME
    # Webhooks (app.webhooks): the delays between attempts; plain http and private
    # addresses only where allowed (default: in development); the dispatcher in `serve`.
    webhook_retry_schedule: Annotated[tuple[float, ...], BeforeValidator(_retry_schedule)] = (
        DEFAULT_WEBHOOK_RETRY_SCHEDULE
    )
    webhook_allow_private: Flag = False  # default: on in development
    webhook_dispatcher: Flag = True
    event_retention_days: WholeNumber = DEFAULT_EVENT_RETENTION_DAYS

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what the caller gives: the environment is read by `from_env` alone.
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_the_environment(cls, data: Any) -> Any:
        """GraphiQL, private webhook addresses and text logs in development unless set; off
        and JSON otherwise."""
        if not isinstance(data, dict):
            return data
        development = str(data.get("environment") or "").strip().lower() == "development"
        defaults = {
            "graphiql": development,
            "webhook_allow_private": development,
            "log_format": "text" if development else "json",
        }
        return defaults | data

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings `env` gives (default: the process's environment and `.env`)."""
        if env is None:
            # The working directory's .env; real environment variables win.
            load_dotenv(Path.cwd() / ".env", override=False)
            env = os.environ
        values = _Environment(cls, env)()
        try:
            return cls(**values)
        except ValidationError as error:
            raise BadSetting(_first_problem(error, values)) from None

    @property
    def serves_metrics(self) -> bool:
        """/metrics is served in development, and in production only behind a token."""
        return self.metrics_token is not None or not self.is_production

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def check_signing(self) -> None:
        """Refuse to run without a strong way to verify tokens."""
        if self.jwt_public_key or self.jwt_jwks_url:
            return
        if self.jwt_secret is None:
            raise ConfigError("JWT_SECRET is not set (or set JWT_PUBLIC_KEY / JWT_JWKS_URL)")
        if len(self.jwt_secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")

    def check_can_issue_tokens(self) -> None:
        """Refuse unless this service can sign tokens, not only verify them."""
        self.check_signing()
        if self.jwt_secret is None:
            raise ConfigError("issuing tokens needs JWT_SECRET (a public key only verifies them)")

    @field_serializer("database_url")
    def _database_url_shown(self, url: str) -> str:
        return hide_password(url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The database URL's password stays out of reprs and dumps (SecretStr hides the
        # secrets); code reads it from the field.
        for name, value in super().__repr_args__():
            yield name, hide_password(value) if name == "database_url" else value


def hide_password(url: str) -> str:
    """`url` with its password as `***` (unparseable: the whole URL hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"


def _first_problem(error: ValidationError, values: Mapping[str, Any]) -> str:
    """`NAME=value: what it must be` for the first invalid variable (its value left out
    when it is a secret or unprintable)."""
    problem = error.errors()[0]
    field = str(problem["loc"][0]) if problem["loc"] else ""
    message = problem["msg"].removeprefix("Value error, ")
    name = field.upper()
    value = str(values.get(field, ""))
    if field in _SECRET_FIELDS or not value.isprintable():
        return f"{name}: {message}"
    shown = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
    return f"{name}={shown}: {message}"
