"""The webhook settings (app/config.py): WEBHOOK_RETRY_SCHEDULE validated, private
addresses allowed by default in development only, EVENT_RETENTION_DAYS a whole number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.config import DEFAULT_WEBHOOK_RETRY_SCHEDULE, ConfigError, Settings
from app.webhooks.schedule import next_attempt_at


def test_the_default_schedule_retries_for_about_three_days() -> None:
    settings = Settings.from_env({})
    assert settings.webhook_retry_schedule == DEFAULT_WEBHOOK_RETRY_SCHEDULE
    total = timedelta(seconds=sum(DEFAULT_WEBHOOK_RETRY_SCHEDULE))
    assert timedelta(days=2.5) < total < timedelta(days=3.5)
    assert settings.event_retention_days == 30


def test_a_schedule_of_seconds_overrides_it() -> None:
    settings = Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": "1, 2.5,60"})
    assert settings.webhook_retry_schedule == (1.0, 2.5, 60.0)


@pytest.mark.parametrize("value", ["0", "-5", "5,,6", "five", "nan", "inf", "1,700000"])
def test_a_malformed_schedule_refuses_to_start(value: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_RETRY_SCHEDULE"):
        Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": value})


def test_private_addresses_are_allowed_by_default_in_development_only() -> None:
    assert Settings.from_env({}).webhook_allow_private is False
    assert Settings.from_env({"ENVIRONMENT": "development"}).webhook_allow_private is True
    assert Settings.from_env({"WEBHOOK_ALLOW_PRIVATE": "on"}).webhook_allow_private is True
    development_off = {"ENVIRONMENT": "development", "WEBHOOK_ALLOW_PRIVATE": "off"}
    assert Settings.from_env(development_off).webhook_allow_private is False


def test_retention_is_a_whole_number_of_days() -> None:
    assert Settings.from_env({"EVENT_RETENTION_DAYS": "7"}).event_retention_days == 7
    with pytest.raises(ConfigError, match="EVENT_RETENTION_DAYS"):
        Settings.from_env({"EVENT_RETENTION_DAYS": "0.5"})


def test_the_next_attempt_follows_the_schedule_with_jitter_then_stops() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = (10.0, 100.0)
    first = next_attempt_at(schedule, 1, now)
    second = next_attempt_at(schedule, 2, now)
    assert first is not None and second is not None
    assert timedelta(seconds=9) <= first - now <= timedelta(seconds=11)
    assert timedelta(seconds=90) <= second - now <= timedelta(seconds=110)
    assert next_attempt_at(schedule, 3, now) is None
