"""The audit trail for administrators: every filter narrows to exactly its events, pages come
newest first, an administrator's action names the administrator, the CSV export carries the
same fields, neutralises spreadsheet formulas and is streamed (its session held while rows
flow and released after), only admins read either (a helpdesk and an ID without a role get
403 and change nothing), no recorded event carries a secret, and the retention sweep deletes
old events but keeps what the backup prompt counts."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from admin import audit as audit_service
from core import db as database
from core import events
from core.models import AuditEvent
from core.policy import POLICIES
from tests.admin.test_admin_api import _user_id, grant, person
from tests.clock import Clock
from tests.conftest import Api, error, execute, snapshot
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def add_event(app: Flask, **values: Any) -> int:
    """One audit row written beside the app (``kind``, ``created_at``… as given)."""
    row = {"kind": "test_event", "ip": "", "user_agent": "", "data": {}, **values}
    with app.extensions[database.ENGINE_KEY].begin() as conn:
        return int(conn.execute(sa.insert(AuditEvent).values(**row)).inserted_primary_key[0])


def add_events(app: Flask, rows: list[dict[str, Any]]) -> None:
    base = {"kind": "test_event", "ip": "", "user_agent": "", "data": {}, "user_id": None}
    with app.extensions[database.ENGINE_KEY].begin() as conn:
        conn.execute(sa.insert(AuditEvent), [{**base, **row} for row in rows])


def audit_count(app: Flask, where: str = "1 = 1", **params: Any) -> int:
    return int(
        execute(app, f"SELECT count(*) FROM audit_events WHERE {where}", **params).scalar_one()
    )


def listed(api: Api, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/admin/audit?{query}")
    assert response.status_code == 200, response.get_json()
    check_response("GET", "/api/admin/audit", 200, response.get_json())
    return response.get_json()


def block(admin: Api, device_id: int) -> None:
    response = admin.post(f"/api/admin/devices/{device_id}/block")
    assert response.status_code == 200, response.get_json()


def first_device(app: Flask, username: str) -> int:
    return int(
        execute(
            app, "SELECT min(id) FROM devices WHERE user_id = :u", u=_user_id(app, username)
        ).scalar_one()
    )


# ---- the list and its filters --------------------------------------------------------------


def test_an_admin_action_names_the_administrator_as_actor(app: Flask, admin: Api) -> None:
    person(app, "bob")
    bob, root = _user_id(app, "bob"), _user_id(app, "root")
    block(admin, first_device(app, "bob"))
    [event] = listed(admin, "kind=device_blocked")["events"]
    assert event["user_id"] == bob
    assert (event["actor_id"], event["actor"]) == (root, "root")
    assert event["details"]["via"] == "admin" and event["details"]["actor_user_id"] == root
    assert set(event) == set(audit_service.FIELDS)
    # The ID's own events have no acting administrator.
    own = listed(admin, f"user_id={bob}&kind=user_registered")["events"]
    assert [(e["actor_id"], e["actor"]) for e in own] == [(None, None)]


def test_each_filter_narrows_to_exactly_its_events(app: Flask, admin: Api) -> None:
    person(app, "bob")
    bob, root = _user_id(app, "bob"), _user_id(app, "root")
    block(admin, first_device(app, "bob"))
    add_event(app, kind="signed_in", user_id=bob, ip="203.0.113.9", created_at=T0)
    add_event(
        app, kind="signed_in", user_id=root, ip="203.0.113.9", created_at=T0 + timedelta(hours=1)
    )
    add_event(
        app, kind="signed_in", user_id=bob, ip="198.51.100.1", created_at=T0 + timedelta(hours=2)
    )

    everything = listed(admin, "per_page=100")
    assert everything["total"] == audit_count(app) == len(everything["events"])

    by_user = listed(admin, f"user_id={bob}&per_page=100")
    assert by_user["total"] == audit_count(app, "user_id = :u", u=bob) < everything["total"]
    assert {e["user_id"] for e in by_user["events"]} == {bob}

    by_kind = listed(admin, "kind=signed_in&per_page=100")
    assert by_kind["total"] == audit_count(app, "kind = 'signed_in'")
    assert {e["kind"] for e in by_kind["events"]} == {"signed_in"}
    both_kinds = listed(admin, "kind=signed_in,device_blocked&per_page=100")
    assert both_kinds["total"] == by_kind["total"] + 1

    by_actor = listed(admin, f"actor_id={root}")
    assert [(e["kind"], e["user_id"]) for e in by_actor["events"]] == [("device_blocked", bob)]
    assert listed(admin, f"actor_id={bob}")["total"] == 0

    by_ip = listed(admin, "ip=203.0.113.9")
    assert {e["ip"] for e in by_ip["events"]} == {"203.0.113.9"} and by_ip["total"] == 2

    window = listed(admin, "since=2026-06-01T13:00:00Z&until=2026-06-01T14:00:00Z")
    assert [e["user_id"] for e in window["events"]] == [root]  # since inclusive, until not
    later = listed(admin, "since=2026-06-01T13:00:01Z&until=2026-06-01T14:00:01Z")
    assert [(e["user_id"], e["ip"]) for e in later["events"]] == [(bob, "198.51.100.1")]
    assert (
        listed(admin, "since=2026-06-01T13:00:00%2B01:00&until=2026-06-01T13:00:00Z")["total"] == 1
    )  # 12:00 UTC, inclusive
    assert listed(admin, "until=2026-06-01")["total"] == 0

    together = listed(admin, f"user_id={bob}&ip=203.0.113.9&kind=signed_in")
    assert together["total"] == 1 and together["events"][0]["at"] == T0.isoformat()


def test_pages_come_newest_first(app: Flask, admin: Api) -> None:
    execute(app, "DELETE FROM audit_events")
    add_events(app, [{"created_at": T0 + timedelta(minutes=i), "ip": str(i)} for i in range(5)])
    pages = [listed(admin, f"per_page=2&page={page}") for page in (1, 2, 3, 4)]
    assert [[e["ip"] for e in p["events"]] for p in pages] == [["4", "3"], ["2", "1"], ["0"], []]
    assert {(p["total"], p["page"], p["per_page"]) for p in pages[:1]} == {(5, 1, 2)}
    assert all(p["total"] == 5 for p in pages)


@pytest.mark.parametrize(
    "query",
    [
        "per_page=101",
        "page=0",
        "since=yesterday",
        "since=5",
        "until=2026-13-01",
        "since=2026-06-02&until=2026-06-01",
        "user_id=0",
        "actor_id=99999999999",
        "kind=" + "x" * 700,
    ],
)
def test_a_query_that_does_not_fit_is_400(app: Flask, admin: Api, query: str) -> None:
    assert error(admin.get(f"/api/admin/audit?{query}")) == (400, "invalid_input")
    assert error(admin.get(f"/api/admin/audit.csv?{query}")) == (400, "invalid_input")


# ---- who may read it -----------------------------------------------------------------------

ROUTES = ["/api/admin/audit", "/api/admin/audit.csv?kind=signed_in", "/api/admin/stats"]


@pytest.mark.parametrize("path", ROUTES)
def test_helpdesk_and_an_id_without_a_role_get_403_and_change_nothing(
    app: Flask, admin: Api, path: str
) -> None:
    helpdesk = person(app, "helen")
    grant(app, "helen", "helpdesk")
    nobody = person(app, "mallory")
    before, events_before = snapshot(app), audit_count(app)
    for api in (helpdesk, nobody):
        response = api.get(path)
        assert error(response) == (403, "forbidden")
        assert response.mimetype == "application/json"
    assert error(Api(app.test_client()).get(path)) == (401, "not_signed_in")
    assert snapshot(app) == before and audit_count(app) == events_before


# ---- CSV -----------------------------------------------------------------------------------


def read_csv(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_the_csv_has_the_fields_and_rows_of_the_list(app: Flask, admin: Api) -> None:
    person(app, "bob")
    block(admin, first_device(app, "bob"))
    response = admin.get("/api/admin/audit.csv?kind=device_blocked,user_registered")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=keystead-audit-")
    assert disposition.endswith(".csv")
    header, *rows = read_csv(response)
    assert header == list(audit_service.FIELDS)
    expected = listed(admin, "kind=device_blocked,user_registered")["events"]
    assert len(rows) == len(expected) == 3
    for row, event in zip(rows, expected, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert json.loads(cells.pop("details")) == event["details"]
        assert cells == {k: "" if v is None else str(v) for k, v in event.items() if k != "details"}
    assert rows[0][header.index("actor")] == "root"


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(app: Flask, admin: Api) -> None:
    execute(app, "DELETE FROM audit_events")
    formulas = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    for i, text in enumerate(formulas):
        add_event(
            app,
            kind="test_event",
            user_agent=text,
            ip=text[:60],
            data={"name": text},
            created_at=T0 + timedelta(seconds=i),
        )
    header, *rows = read_csv(admin.get("/api/admin/audit.csv"))
    agents = [row[header.index("user_agent")] for row in rows]
    assert agents == ["'" + text for text in reversed(formulas)]
    assert all(row[header.index("ip")].startswith("'") for row in rows)
    assert all(row[header.index("details")].startswith("{") for row in rows)
    assert audit_service.csv_cell("plain") == "plain"
    assert audit_service.csv_cell(-5) == "'-5"  # the cell's text is what a spreadsheet reads
    assert audit_service.csv_cell({"b": 1, "a": "x y"}) == '{"a":"x y","b":1}'


def test_the_csv_is_streamed_holding_its_session_until_the_last_row(app: Flask, admin: Api) -> None:
    count = 1234  # more than one database batch and many chunks
    add_events(
        app,
        [
            {"created_at": T0 + timedelta(seconds=i), "ip": f"10.0.{i // 256}.{i % 256}"}
            for i in range(count)
        ],
    )
    engine = app.extensions[database.ENGINE_KEY]
    pool = engine.pool
    fetched: list[dict[str, Any]] = []

    def options(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM audit_events" in statement and "count(" not in statement:
            fetched.append(dict(_args[1].execution_options))

    sa.event.listen(engine, "before_cursor_execute", options)
    response = admin.client.get("/api/admin/audit.csv?kind=test_event", buffered=False)
    try:
        assert response.status_code == 200 and response.is_streamed
        chunks = iter(response.response)
        header = next(chunks)
        assert header.startswith(b"id,at,kind,")
        first = next(chunks)
        # Rows are still being read: the request's session holds its connection (its
        # transaction keeps PostgreSQL's server-side cursor open)...
        assert pool.checkedout() == 1
        # ...and no writer waits for it (on SQLite a read transaction holds no write lock).
        written = time.monotonic()
        add_event(app, kind="written_meanwhile", created_at=T0)
        assert time.monotonic() - written < 5
        rest = b"".join(chunks)
    finally:
        response.close()
        sa.event.remove(engine, "before_cursor_execute", options)
    # One query, fetched a batch at a time (a server-side cursor where the driver has one).
    assert [(o.get("yield_per"), o.get("stream_results")) for o in fetched] == [
        (audit_service.STREAM_BATCH, True)
    ]
    lines = (header + first + rest).decode().splitlines()
    assert len(lines) == count + 1
    assert lines[1].split(",")[7] == f"10.0.{(count - 1) // 256}.{(count - 1) % 256}"
    assert pool.checkedout() == 0  # the session was closed after the last row


def test_a_csv_download_given_up_releases_its_session(app: Flask, admin: Api) -> None:
    add_events(app, [{"created_at": T0 + timedelta(seconds=i)} for i in range(1200)])
    pool = app.extensions[database.ENGINE_KEY].pool
    response = admin.client.get("/api/admin/audit.csv", buffered=False)
    chunks = iter(response.response)
    next(chunks), next(chunks)
    assert pool.checkedout() == 1
    response.close()  # the client went away
    assert pool.checkedout() == 0


# ---- no secret in the trail ----------------------------------------------------------------

SECRET_WORDS = ("code", "token", "secret", "hash", "password", "otp")


def _event_classes(base: type[events.Event]) -> list[type[events.Event]]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_event_classes(sub)]
    return found


def test_no_recorded_event_has_a_field_for_a_secret() -> None:
    """Events that carry a code are ``SecretEvent``s, never recorded; every other event's
    fields (its stored details) name no secret (public identifiers excepted)."""
    public = {"credential_id", "client_id", "kids"}
    recorded = [c for c in _event_classes(events.Event) if not issubclass(c, events.SecretEvent)]
    assert len(recorded) > 30
    for event_class in recorded:
        for field in fields(event_class):
            if field.name in public:
                continue
            assert not any(word in field.name for word in SECRET_WORDS), (
                f"{event_class.__name__}.{field.name} may hold a secret"
            )
    assert {"code"} <= {f.name for f in fields(events.EmailCodeIssued)}
    # A policy change records the value: no policy is a secret.
    assert not [key for key in POLICIES if "SECRET" in key or "PASSWORD" in key]


def test_a_mailed_code_never_reaches_the_trail(app: Flask, signed_in: Api) -> None:
    assert audit_count(app, "kind = 'email_code_issued'") == 0  # sign-up mailed one
    assert audit_count(app, "kind = 'user_registered'") == 1


# ---- retention -----------------------------------------------------------------------------


def purge(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("config_overrides", [{"AUDIT_RETENTION_DAYS": 30}], indirect=True)
def test_purge_deletes_events_past_the_retention_and_keeps_the_rest(
    app: Flask, clock: Clock
) -> None:
    now = clock.now
    old = add_event(app, kind="device_blocked", created_at=now - timedelta(days=30, seconds=1))
    edge = add_event(app, kind="device_blocked", created_at=now - timedelta(days=30))
    new = add_event(app, kind="device_blocked", created_at=now - timedelta(days=1))
    assert "1 audit events past AUDIT_RETENTION_DAYS" in purge(app)
    kept = [r[0] for r in execute(app, "SELECT id FROM audit_events ORDER BY id")]
    assert old not in kept and kept == [edge, new]


@pytest.mark.parametrize("config_overrides", [{"AUDIT_RETENTION_DAYS": 0}], indirect=True)
def test_retention_zero_keeps_every_event(app: Flask, clock: Clock) -> None:
    add_event(app, kind="device_blocked", created_at=clock.now - timedelta(days=3650))
    assert "0 audit events" in purge(app)
    assert audit_count(app) == 1


@pytest.mark.parametrize(
    "config_overrides",
    [{"AUDIT_RETENTION_DAYS": 30, "BACKUP_PROMPT_AFTER_SIGNINS": 2}],
    indirect=True,
)
def test_purge_keeps_the_sign_ins_the_backup_prompt_counts(
    app: Flask, clock: Clock, signed_in: Api, authenticator: SoftAuthenticator
) -> None:
    """alice reached the prompt (2 sign-ins) long ago: after the purge her next sign-in still
    prompts. Only her newest 2 sign-ins are kept; everything else old goes."""
    prompts = [signed_in.sign_in(authenticator).get_json()["backup_prompt"] for _ in range(3)]
    assert prompts == [False, True, True]
    alice = _user_id(app, "alice")
    newest = [
        r[0]
        for r in execute(
            app,
            "SELECT id FROM audit_events WHERE kind = 'signed_in' ORDER BY id DESC LIMIT 2",
        )
    ]
    clock.advance(31 * 86400)
    purge(app)
    assert sorted(r[0] for r in execute(app, "SELECT id FROM audit_events")) == sorted(newest)
    again = Api(app.test_client())
    assert again.sign_in(authenticator).get_json()["backup_prompt"] is True
    assert audit_count(app, "user_id = :u AND kind = 'signed_in'", u=alice) == 3
