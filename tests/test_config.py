"""Settings' defaults: a deploy that sets nothing but its secret runs locked down."""

from __future__ import annotations

from app.config import Settings


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
