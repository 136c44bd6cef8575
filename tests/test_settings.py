"""Settings are decoded by type with msgspec; a bad FLASHSALE_* value stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flashsale.settings import Durability, Settings, SettingsError


def test_types_are_decoded_from_their_annotations() -> None:
    s = Settings.from_env(
        {
            "FLASHSALE_HEADER_TIMEOUT_S": "2.5",
            "FLASHSALE_KEEPALIVE_S": "90",
            "FLASHSALE_LOG_LEVEL": "warning",
            "FLASHSALE_DURABILITY": "Replicated",
            "FLASHSALE_DEMO": "on",
            "FLASHSALE_REDIS_URL": "",
        }
    )
    assert s.header_timeout_s == 2.5
    assert s.keepalive_s == 90
    assert s.log_level == "WARNING"
    assert s.durability is Durability.REPLICATED
    assert s.demo is True
    assert s.redis_url is None


def test_defaults_the_other_helpers_rely_on() -> None:
    s = Settings()
    assert s.keepalive_s == 75 > 60  # longer than an ALB's idle timeout
    assert 0 < s.header_timeout_s <= 30
    assert 0 < s.body_timeout_s <= 30
    assert s.limit_concurrency == 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FLASHSALE_KEEPALIVE_S", "0", "from 1 to 3600"),
        ("FLASHSALE_KEEPALIVE_S", "1.5", "whole number"),
        ("FLASHSALE_HEADER_TIMEOUT_S", "soon", "a number from 0.1 to 300"),
        ("FLASHSALE_BODY_TIMEOUT_S", "-1", "a number from 0.1 to 300"),
        ("FLASHSALE_LIMIT_CONCURRENCY", "-5", ">= 0"),
        ("FLASHSALE_LOG_LEVEL", "loud", "one of DEBUG, INFO"),
        ("FLASHSALE_DURABILITY", "eventually", "one of async, replicated"),
        ("FLASHSALE_TELEMETRY", "perhaps", "true or false"),
        ("FLASHSALE_WORKERS", "0", "from 1 to 256"),
    ],
)
def test_bad_values_name_the_variable_and_what_it_expects(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert name in message
    assert expected in message
    assert repr(value) in message


def test_construction_in_code_is_checked_too() -> None:
    with pytest.raises(SettingsError, match="FLASHSALE_PORT"):
        Settings(port=0)
    with pytest.raises(SettingsError, match="FLASHSALE_HEADER_TIMEOUT_S"):
        Settings(header_timeout_s=0)


def test_secrets_never_echoed() -> None:
    s = Settings(admin_token="s3cret-s3cret-s3cret-s3cret", redis_url="redis://:pw@h:1/0")
    assert "s3cret" not in repr(s)
    assert "pw" not in repr(s)


def test_serve_stops_on_a_bad_value() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    env.update({"FLASHSALE_REDIS_URL": "redis://127.0.0.1:1/0", "FLASHSALE_KEEPALIVE_S": "forever"})
    r = subprocess.run(
        [sys.executable, "-m", "flashsale", "serve"], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2
    assert "FLASHSALE_KEEPALIVE_S='forever': expected a whole number from 1 to 3600" in r.stderr
