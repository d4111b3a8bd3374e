"""Policies that change while the server runs (``core.policy``): a stored value wins over the
configured one from the next request on, in every app on the database; refusals store
nothing; the cache is reread only when the stamp changed; start-up checks every key by its
declaration (``core.config``); pages render the policy in force."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from core import config, policy
from core import db as database
from core.errors import InvalidInput
from tests.conftest import Api, base_config
from tests.recovery.test_recovery import activate_backup

ROOT = Path(__file__).resolve().parents[2]


def set_policy(app: Flask, key: str, value: Any, **kwargs: Any) -> None:
    with app.app_context():
        policy.set_policy(database.session(), key, value, now=database.utcnow(), **kwargs)
        database.session().commit()


def unset_policy(app: Flask, key: str) -> bool:
    with app.app_context():
        removed = policy.unset_policy(database.session(), key, now=database.utcnow())
        database.session().commit()
    return removed


def timeout(api: Api) -> int:
    """CHALLENGE_TTL as the sign-in ceremony tells the browser (ms)."""
    return api.post("/api/authenticate/begin", {}).get_json()["publicKey"]["timeout"]


def stored_rows(app: Flask) -> list[tuple[Any, ...]]:
    with app.extensions[database.ENGINE_KEY].connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT key, value FROM policy_values"))]


def stamp(app: Flask) -> str | None:
    with app.extensions[database.ENGINE_KEY].connect() as conn:
        return conn.execute(sa.text("SELECT stamp FROM policy_state")).scalar()


def audited(app: Flask) -> list[tuple[Any, ...]]:
    with app.extensions[database.ENGINE_KEY].connect() as conn:
        rows = conn.execute(
            sa.text("SELECT user_id, data FROM audit_events WHERE kind = 'policy_changed'")
        )
        return [
            (user_id, data if isinstance(data, dict) else json.loads(data))
            for user_id, data in rows
        ]


@pytest.fixture
def other_app(migrated: str, tmp_path: Path) -> Iterator[Flask]:
    """A second app on the same database: another gunicorn worker, or another server."""
    other = create_app(base_config(migrated, tmp_path / "other"))
    yield other
    other.extensions[database.ENGINE_KEY].dispose()


# ---- a change applies from the next request, everywhere -----------------------------------


def test_a_policy_set_while_running_applies_from_the_next_request(app, api):
    assert timeout(api) == 300_000
    set_policy(app, "CHALLENGE_TTL", 60)
    assert timeout(api) == 60_000
    with app.app_context():
        assert policy.current()["CHALLENGE_TTL"] == 60
    assert app.config["CHALLENGE_TTL"] == 300  # the configured value is left as it was


def test_a_change_in_one_app_applies_in_another_on_the_same_database(app, other_app):
    here, there = Api(app.test_client()), Api(other_app.test_client())
    assert timeout(there) == 300_000  # its cache is warm
    set_policy(app, "CHALLENGE_TTL", 45)
    assert timeout(there) == 45_000
    assert timeout(here) == 45_000
    runner = other_app.test_cli_runner()
    assert runner.invoke(args=["policy", "unset", "CHALLENGE_TTL"]).exit_code == 0
    assert timeout(here) == 300_000


def test_a_freshness_policy_changes_what_a_session_may_do(clock, app, signed_in):
    clock.at(100)  # the sign-up's verification is 100 seconds old: fresh under 300
    assert signed_in.post("/api/pairing").status_code == 201
    set_policy(app, "REAUTH_MAX_AGE", 60)
    refused = signed_in.post("/api/pairing")
    assert (refused.status_code, refused.get_json()["error"]) == (401, "reauth_required")
    assert unset_policy(app, "REAUTH_MAX_AGE") is True
    assert signed_in.post("/api/pairing").status_code == 201


def test_a_recovery_throttle_set_while_running_locks_after_its_new_count(clock, app, signed_in):
    stranger = Api(app.test_client())
    body = {"username": "alice", "backup_code": "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"}

    def attempts(count: int) -> list[int]:
        statuses = []
        for _ in range(count):
            clock.advance(120)  # past every delay: only a lock refuses
            statuses.append(stranger.post("/api/recovery/begin", body).status_code)
        return statuses

    assert attempts(4) == [401] * 4  # RECOVERY_MAX_FAILURES is 10
    set_policy(app, "RECOVERY_MAX_FAILURES", 4)
    assert attempts(1) == [429]


@pytest.mark.parametrize("config_overrides", [{"CHALLENGE_TTL": 120}], indirect=True)
def test_unset_returns_to_the_configured_value_not_the_default(app, api):
    set_policy(app, "CHALLENGE_TTL", 30)
    assert timeout(api) == 30_000
    assert unset_policy(app, "CHALLENGE_TTL") is True
    assert timeout(api) == 120_000
    assert stored_rows(app) == []
    assert unset_policy(app, "CHALLENGE_TTL") is False  # nothing stored: nothing changes


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "refusal"),
    [
        ("CHALLENGE_TTL", 5, policy.InvalidPolicyValue),  # below its range
        ("CHALLENGE_TTL", 3601, policy.InvalidPolicyValue),  # above it
        ("CHALLENGE_TTL", "60", policy.InvalidPolicyValue),  # a string for a number
        ("CHALLENGE_TTL", 60.0, policy.InvalidPolicyValue),
        ("OTP_DIGITS", True, policy.InvalidPolicyValue),  # a bool is not a number here
        ("RESTORE_REMOVES_OLD_DEVICES", 1, policy.InvalidPolicyValue),
        ("BACKUP_MODE", "sometimes", policy.InvalidPolicyValue),  # not a choice
        ("USER_VERIFICATION", None, policy.InvalidPolicyValue),
        ("NO_SUCH_KEY", 1, policy.UnknownSetting),
        ("SECRET_KEY", "a new one", policy.NotAPolicy),  # read at start-up only
        ("RP_ID", "evil.example", policy.NotAPolicy),
        ("SESSION_COOKIE_NAME", "x", policy.NotAPolicy),
    ],
)
def test_a_refused_policy_stores_nothing(app, api, key, value, refusal):
    before = stamp(app)
    with app.app_context(), pytest.raises(refusal) as raised:
        policy.set_policy(database.session(), key, value, now=database.utcnow())
    assert isinstance(raised.value, InvalidInput)
    assert (raised.value.status, raised.value.code) == (400, "invalid_input")
    assert key in raised.value.message
    assert stored_rows(app) == [] and stamp(app) == before and audited(app) == []
    assert timeout(api) == 300_000


def test_unset_refuses_unknown_and_start_up_keys(app):
    for key, refusal in (("NO_SUCH_KEY", policy.UnknownSetting), ("RP_ID", policy.NotAPolicy)):
        with app.app_context(), pytest.raises(refusal):
            policy.unset_policy(database.session(), key, now=database.utcnow())


def test_a_stored_value_its_declaration_no_longer_accepts_is_ignored(app, api, caplog):
    """A value written before an upgrade narrowed a range, or for a key that stopped being a
    policy, is not served: the configured value applies and the log says why."""
    set_policy(app, "CHALLENGE_TTL", 60)
    with app.extensions[database.ENGINE_KEY].begin() as conn:
        conn.execute(sa.text("UPDATE policy_values SET value = '5' WHERE key = 'CHALLENGE_TTL'"))
        conn.execute(
            sa.text(
                "INSERT INTO policy_values (key, value, updated_at) "
                "VALUES ('RP_ID', '\"evil.example\"', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(sa.text("UPDATE policy_state SET stamp = 'changed by hand'"))
    assert timeout(api) == 300_000
    assert "ignoring the stored policy CHALLENGE_TTL=5" in caplog.text
    assert "ignoring the stored policy RP_ID" in caplog.text
    with app.app_context():
        assert policy.current()["RP_ID"] == "localhost"


# ---- the audit trail -----------------------------------------------------------------------


def test_every_change_is_audited_with_who_and_what(app, signed_in):
    set_policy(app, "OTP_DIGITS", 6, actor_user_id=1)
    set_policy(app, "OTP_DIGITS", 10, actor="cli:root")
    unset_policy(app, "OTP_DIGITS")
    changes = [
        (
            user_id,
            data["key"],
            data["value"],
            data["previous"],
            data["actor_user_id"],
            data["actor"],
        )
        for user_id, data in audited(app)
    ]
    assert changes == [
        (None, "OTP_DIGITS", 6, None, 1, None),
        (None, "OTP_DIGITS", 10, 6, None, "cli:root"),
        (None, "OTP_DIGITS", None, 10, None, None),
    ]


# ---- the cache: one statement per request, a reread only after a change --------------------


class Statements:
    def __init__(self, app: Flask) -> None:
        self.seen: list[str] = []
        self.engine = app.extensions[database.ENGINE_KEY]
        sa.event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def count(self, table: str) -> int:
        return sum(1 for s in self.seen if re.search(rf"\bFROM {table}\b", s))

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


def test_the_cache_is_reread_only_after_a_change(app, signed_in, authenticator):
    cache: policy.PolicyCache = app.extensions[policy.CACHE_KEY]
    assert signed_in.get("/api/me").status_code == 200
    builds = cache.builds
    statements = Statements(app)
    try:
        # A sign-in reads the passkey settings, the session policy and the backup settings
        # many times over: one look at the stamp per request, nothing reread.
        assert signed_in.sign_in(authenticator).status_code == 200  # begin + complete
        for _ in range(3):
            assert signed_in.get("/api/me").status_code == 200
        assert signed_in.get("/account/backup").status_code == 200
        assert statements.count("policy_state") == 6
        assert statements.count("policy_values") == 0
        assert cache.builds == builds

        set_policy(app, "OTP_DIGITS", 6)
        statements.seen.clear()
        for _ in range(3):
            assert signed_in.get("/account/backup").status_code == 200
        assert statements.count("policy_state") == 3
        assert statements.count("policy_values") == 1
        assert cache.builds == builds + 1
    finally:
        statements.close()


def test_static_files_do_not_look_at_the_policy(app, client):
    statements = Statements(app)
    try:
        assert client.get("/static/js/live.js").status_code == 200
        assert statements.count("policy_state") == 0
    finally:
        statements.close()


# ---- pages render the policy in force ------------------------------------------------------


def test_pages_render_the_policies_in_force(app, signed_in, mailbox):
    activate_backup(signed_in, mailbox)  # the page then says how fresh a sign-in must be
    set_policy(app, "OTP_DIGITS", 6)
    set_policy(app, "REAUTH_MAX_AGE", 600)
    set_policy(app, "NOTIFICATION_POLL_INTERVAL", 7)
    set_policy(app, "PAIRING_TTL", 120)
    backup_page = signed_in.get("/account/backup").get_data(as_text=True)
    assert 'data-digits="6"' in backup_page and "6 digits" in backup_page
    assert "during the last 10 minutes" in backup_page
    assert 'data-poll-interval="7"' in backup_page
    account = signed_in.get("/account").get_data(as_text=True)
    assert 'data-ttl="120"' in account and 'data-poll-interval="7"' in account
    assert signed_in.get("/api/notifications").get_json()["poll_interval"] == 7


def test_no_template_or_script_keeps_a_copy_of_a_policy_default():
    """Pages get a policy's value from the server; a literal default (300 seconds shown as "5
    minutes", a fallback interval) would go stale as soon as the policy changes."""
    for path in [*(ROOT / "templates").rglob("*.html"), *(ROOT / "static" / "js").glob("*.js")]:
        text = path.read_text()
        assert not re.search(r"\bconfig\[", text), path
        assert not re.search(r"last 5 minutes|within 5 minutes|5 \* 60 \* 1000", text), path
        assert not re.search(r"DEFAULT_INTERVAL\s*=", text), path


def test_no_module_reads_a_policy_from_the_configuration():
    """``app.config`` holds the configured values; a policy read there would ignore the value
    stored while running."""
    keys = "|".join(policy.POLICIES)
    read = re.compile(rf"""(?:current_app|app)\.config\[["']({keys})["']\]""")
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] in ("tests", ".venv", "bench", "tools"):
            continue
        assert not read.search(path.read_text()), path
    assert not read.search((ROOT / "app.py").read_text())


def test_durations_are_said_in_words():
    from core.web import duration_words

    assert duration_words(300) == "5 minutes"
    assert duration_words(60) == "1 minute"
    assert duration_words(90) == "90 seconds"
    assert duration_words(7200) == "2 hours"
    assert duration_words(86400) == "1 day"


# ---- the command line ----------------------------------------------------------------------


def test_the_command_line_lists_sets_and_unsets_policies(app, api):
    runner = app.test_cli_runner()
    done = runner.invoke(args=["policy", "set", "RESTORE_REMOVES_OLD_DEVICES", "true"])
    assert done.exit_code == 0, done.output
    assert runner.invoke(args=["policy", "set", "CHALLENGE_TTL", "90"]).exit_code == 0
    assert timeout(api) == 90_000
    listed = runner.invoke(args=["policy", "list"]).output
    assert "CHALLENGE_TTL = 90  (stored 90; configured 300)" in listed
    assert "RESTORE_REMOVES_OLD_DEVICES = true  (stored true; configured false)" in listed
    assert "OTP_DIGITS = 8\n" in listed
    assert "SECRET_KEY" not in listed  # not a policy
    described = {
        d["key"]: d for d in json.loads(runner.invoke(args=["policy", "list", "--json"]).output)
    }
    assert described["CHALLENGE_TTL"] | {"updated_at": None} == {
        "key": "CHALLENGE_TTL",
        "doc": config.SETTINGS["CHALLENGE_TTL"].doc,
        "values": "a whole number from 10 to 3600",
        "default": 300,
        "configured": 300,
        "stored": 90,
        "effective": 90,
        "updated_at": None,
        "updated_by": None,
    }
    assert described["CHALLENGE_TTL"]["updated_at"] is not None
    assert described["BACKUP_MODE"]["stored"] is None
    assert described["BACKUP_MODE"]["effective"] == "optional"
    assert set(described) == {k for k, s in config.SETTINGS.items() if s.policy}
    unset = runner.invoke(args=["policy", "unset", "CHALLENGE_TTL"])
    assert unset.exit_code == 0 and "CHALLENGE_TTL = 300" in unset.output
    assert timeout(api) == 300_000
    assert audited(app)[0][1]["actor"].startswith("cli:")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["CHALLENGE_TTL", "soon"], "CHALLENGE_TTL must be a whole number from 10 to 3600"),
        (["CHALLENGE_TTL", "4000"], "CHALLENGE_TTL must be a whole number from 10 to 3600"),
        (["RESTORE_REMOVES_OLD_DEVICES", "maybe"], "must be true or false"),
        (["BACKUP_MODE", "never"], "'optional', 'on_enrollment' or 'disabled'"),
        (["RP_ID", "evil.example"], "RP_ID is read at start-up only"),
        (["CHALENGE_TTL", "60"], "no setting 'CHALENGE_TTL'"),
    ],
)
def test_the_command_line_refuses_what_the_service_refuses(app, args, says):
    refused = app.test_cli_runner().invoke(args=["policy", "set", *args])
    assert refused.exit_code != 0
    assert says in refused.output
    assert stored_rows(app) == []
