"""Configuration from the environment (a `.env` file is read if present)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./invoicepay.db"
MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_CHARS = 16
LOG_FORMATS = ("json", "text")


class ConfigError(Exception):
    """The configuration cannot run safely; the process must not start."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


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
