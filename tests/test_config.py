"""Settings' defaults: a deploy that sets nothing but its secret runs locked down."""

from __future__ import annotations

import pytest

from app.config import BadSetting, Settings


def test_without_environment_the_service_runs_in_production() -> None:
    for settings in (Settings(), Settings.from_env({}), Settings.from_env({"ENVIRONMENT": ""})):
        assert settings.is_production
        assert settings.graphiql is False
        assert settings.serves_metrics is False


def test_development_is_only_what_is_asked_for() -> None:
    settings = Settings.from_env({"ENVIRONMENT": "Development"})
    assert not settings.is_production
    assert settings.graphiql is True
    assert settings.serves_metrics is True


SECRET = "jwt-" + "s" * 40
TOKEN = "metrics-" + "m" * 24
PASSWORD = "db-password-" + "p" * 12


def test_secrets_and_the_database_password_never_print() -> None:
    # given settings holding a JWT secret, a metrics token and a database password
    settings = Settings.from_env(
        {
            "JWT_SECRET": SECRET,
            "METRICS_TOKEN": TOKEN,
            "DATABASE_URL": f"postgresql+asyncpg://app:{PASSWORD}@db.internal/invoicepay",
        }
    )
    # when they are printed, formatted or dumped to JSON, then none of the three shows
    for shown in (repr(settings), str(settings), f"{settings}", settings.model_dump_json()):
        for secret in (SECRET, TOKEN, PASSWORD):
            assert secret not in shown, (secret, shown)
    assert "app:***@db.internal" in repr(settings)
    # and the code that needs them still has them
    assert settings.jwt_secret is not None and settings.jwt_secret.get_secret_value() == SECRET
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == TOKEN
    assert PASSWORD in settings.database_url


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        (
            {"LOG_LEVEL": "LOUD"},
            "LOG_LEVEL=LOUD: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT=staging: must be one of development, production"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT=xml: must be one of json, text"),
        ({"GRAPHIQL": "maybe"}, "GRAPHIQL=maybe: must be on or off (true/false, yes/no, 1/0)"),
        (
            {"WS_MAX_PER_CLIENT": "2.5"},
            "WS_MAX_PER_CLIENT=2.5: must be a whole number of at least 1",
        ),
        ({"GRAPHQL_TIMEOUT": "inf"}, "GRAPHQL_TIMEOUT=inf: must be a number of seconds above 0"),
        # a secret's value is never repeated, nor one that would break the line
        ({"METRICS_TOKEN": "short-secret"}, "METRICS_TOKEN: must be at least 16 characters long"),
        (
            {"LOG_LEVEL": "INFO\nforged line"},
            "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(BadSetting) as refused:
        Settings.from_env(env)
    assert str(refused.value) == complaint


def test_names_and_choices_are_read_in_any_case() -> None:
    settings = Settings.from_env({"log_level": " debug ", "LOG_FORMAT": "Text", "GRAPHIQL": "ON"})
    assert (settings.log_level, settings.log_format, settings.graphiql) == ("DEBUG", "text", True)


def test_settings_built_in_code_never_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given an environment that says development and debug
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    # then Settings(...) is only what it is given; from_env() reads it
    assert (Settings().environment, Settings().log_level) == ("production", "INFO")
    assert (Settings.from_env().environment, Settings.from_env().log_level) == (
        "development",
        "DEBUG",
    )
