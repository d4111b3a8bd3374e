"""Configuration layers and start-up checks."""

from __future__ import annotations

import logging
import re

import pytest

from app import create_app
from core import config


def test_environment_overrides_instance_config_and_defaults(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text('RP_NAME = "From instance"\nCHALLENGE_TTL = 120\n')
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KEYSTEAD_CHALLENGE_TTL", "60")
    monkeypatch.setenv("KEYSTEAD_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("KEYSTEAD_RATELIMIT_ENABLED", "false")
    monkeypatch.setenv(
        "KEYSTEAD_ALLOWED_ORIGINS", '["http://localhost:5000", "https://id.example.com"]'
    )
    app = create_app()
    assert app.config["RP_NAME"] == "From instance"
    assert app.config["CHALLENGE_TTL"] == 60
    assert app.config["RATELIMIT_ENABLED"] is False
    assert app.config["ALLOWED_ORIGINS"] == ["http://localhost:5000", "https://id.example.com"]
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/keystead.db"
    # Test overrides win over everything.
    assert create_app({"CHALLENGE_TTL": 17}).config["CHALLENGE_TTL"] == 17


def test_unknown_keystead_variables_are_logged_not_fatal(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KEYSTEAD_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("KEYSTEAD_CHALENGE_TTL", "60")
    with caplog.at_level(logging.WARNING):
        create_app()
    assert "KEYSTEAD_CHALENGE_TTL" in caplog.text


def test_production_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("KEYSTEAD_SECRET_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        create_app({"ENV": "production"})


def test_development_generates_a_secret_key_once(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("KEYSTEAD_SECRET_KEY", raising=False)
    first = create_app({"ENV": "development"}).config["SECRET_KEY"]
    second = create_app({"ENV": "development"}).config["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"ORIGIN": "localhost:5000"},
        {"ORIGIN": "http://localhost:5000/path"},
        {"USER_VERIFICATION": "discouraged"},
        {"CHALLENGE_TTL": -1},
        {"CHALLENGE_TTL": 0},
        {"ENV": "staging"},
    ],
)
def test_impossible_configuration_stops_start_up(tmp_path, monkeypatch, bad):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(config.ConfigError):
        create_app({"SECRET_KEY": "s" * 32, **bad})


def test_readme_configuration_table_matches_the_settings():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert config.markdown_table() in readme, "regenerate with: make docs"


# ---- every key is checked by its declaration ---------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw", "says"),
    [
        ("KEYSTEAD_OTP_DIGITS", "12", "OTP_DIGITS must be a whole number from 6 to 10"),
        ("KEYSTEAD_CHALLENGE_TTL", "5", "CHALLENGE_TTL must be a whole number from 10 to 3600"),
        ("KEYSTEAD_CHALLENGE_TTL", "five minutes", "CHALLENGE_TTL must be a whole number"),
        ("KEYSTEAD_RECOVERY_MAX_FAILURES", "0", "RECOVERY_MAX_FAILURES must be a whole number"),
        ("KEYSTEAD_MAIL_PORT", "70000", "MAIL_PORT must be a whole number from 1 to 65535"),
        ("KEYSTEAD_MAIL_WORKER", "sometimes", "MAIL_WORKER must be true or false"),
        ("KEYSTEAD_BACKUP_MODE", "always", "'optional', 'on_enrollment' or 'disabled'"),
        ("KEYSTEAD_ALLOWED_ORIGINS", "[1, 2]", "ALLOWED_ORIGINS must be a list of strings"),
    ],
)
def test_an_environment_value_outside_its_declaration_stops_start_up(
    tmp_path, monkeypatch, variable, raw, says
):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KEYSTEAD_SECRET_KEY", "s" * 32)
    monkeypatch.setenv(variable, raw)
    with pytest.raises(config.ConfigError, match=re.escape(says)) as stopped:
        create_app()
    assert variable in str(stopped.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"RECOVERY_MAX_FAILURES": 0},
        {"SESSION_LIFETIME": 10},
        {"MAIL_RETRY_FOR": 10**12},
        {"RATELIMIT_ENABLED": "no"},
        {"RESTORE_REMOVES_OLD_DEVICES": 1},
        {"RP_NAME": 42},
    ],
)
def test_any_layer_outside_a_declaration_stops_start_up(tmp_path, monkeypatch, bad):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    [key] = bad
    with pytest.raises(config.ConfigError, match=key):
        create_app({"SECRET_KEY": "s" * 32, **bad})


def test_environment_values_are_read_by_their_type(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSTEAD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KEYSTEAD_SECRET_KEY", "1234567890" * 4)  # digits, still a string
    monkeypatch.setenv("KEYSTEAD_RP_NAME", "2024")
    monkeypatch.setenv("KEYSTEAD_MAIL_PASSWORD", "true")
    monkeypatch.setenv("KEYSTEAD_RESTORE_REMOVES_OLD_DEVICES", "TRUE")
    monkeypatch.setenv("KEYSTEAD_MAIL_USE_TLS", "0")
    monkeypatch.setenv("KEYSTEAD_ALLOWED_ORIGINS", "https://id.example.com")
    app = create_app()
    assert app.config["SECRET_KEY"] == "1234567890" * 4
    assert app.config["RP_NAME"] == "2024"
    assert app.config["MAIL_PASSWORD"] == "true"
    assert app.config["RESTORE_REMOVES_OLD_DEVICES"] is True
    assert app.config["MAIL_USE_TLS"] is False
    assert app.config["ALLOWED_ORIGINS"] == ["https://id.example.com"]
    monkeypatch.setenv("KEYSTEAD_ALLOWED_ORIGINS", "")
    assert create_app().config["ALLOWED_ORIGINS"] == ["http://localhost:5000"]  # [ORIGIN]


def test_every_default_fits_its_declaration_and_every_policy_is_bounded():
    for key, setting in config.SETTINGS.items():
        assert setting.problem(key, setting.default) is None, key
        if not setting.policy:
            continue
        assert setting.default is not None, key
        if setting.type is int:
            assert setting.min is not None and setting.max is not None, key
        if setting.type is str:
            assert setting.choices, key
