"""Configuration layers and start-up checks."""

from __future__ import annotations

import logging

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
