"""The dashboard's figures after a scripted history (sign-ups, sign-ins, a blocked and a flagged
device, backup, recoveries, mail), each figure's link leading to a list of just as many
events, and a cost that does not grow with the history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from core import db as database
from tests.admin.test_admin_api import _user_id, grant, person
from tests.admin.test_audit import add_event, add_events, block, first_device
from tests.clock import Clock
from tests.conftest import Api, error, execute
from tests.openapi_check import check_response
from tools.softauthn import SoftAuthenticator


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def figures(admin: Api) -> dict[str, Any]:
    response = admin.get("/api/admin/stats")
    assert response.status_code == 200, response.get_json()
    check_response("GET", "/api/admin/stats", 200, response.get_json())
    return response.get_json()


def values(group: dict[str, Any]) -> dict[str, int]:
    return {name: figure["value"] for name, figure in group.items()}


def test_the_figures_after_a_scripted_history(app: Flask, admin: Api, clock: Clock) -> None:
    alice_key = SoftAuthenticator(origin="http://localhost:5000")
    alice = Api(app.test_client())
    assert alice.sign_up(alice_key, username="alice").status_code == 201
    person(app, "bob")
    person(app, "carol")
    execute(app, "DELETE FROM outbox_mail")
    assert alice.sign_in(alice_key).status_code == 200  # a sign-in
    block(admin, first_device(app, "bob"))  # a blocked device; bob is told by mail (pending)
    execute(
        app, "UPDATE devices SET flagged = :t WHERE id = :d", t=True, d=first_device(app, "carol")
    )
    execute(
        app,
        "INSERT INTO backup_codes (user_id, code_hash, activated_at, code_created_at) "
        "VALUES (:u, :h, :at, :at)",
        u=_user_id(app, "alice"),
        h=b"\0" * 32,
        at=clock.now.replace(tzinfo=None),
    )
    now = clock.now
    add_events(
        app,
        [
            {"kind": "signed_in", "created_at": now - timedelta(days=10)},
            {"kind": "signed_in", "created_at": now - timedelta(days=31)},
            {"kind": "device_restored", "created_at": now - timedelta(hours=1)},
            {"kind": "device_duplicated", "created_at": now - timedelta(days=2)},
            {"kind": "device_restored", "created_at": now - timedelta(days=40)},
            {"kind": "recovery_started", "created_at": now - timedelta(hours=1)},
        ],
    )
    add_event(app, kind="sign_in_failed", created_at=now)

    stats = figures(admin)
    assert values(stats["users"]) == {"total": 4, "active": 4, "deactivated": 0}
    assert values(stats["devices"]) == {"active": 3, "blocked": 1, "flagged": 1}
    assert {k: v for k, v in stats["backup"].items() if k != "link"} == {
        "with_backup": 1,
        "of": 4,
        "percent": 25.0,
    }
    assert values(stats["sign_ins"]) == {"last_24h": 1, "last_30d": 2}
    assert values(stats["recoveries"]) == {"last_24h": 1, "last_30d": 2}
    assert values(stats["mail"]) == {"pending": 1, "failed": 0}

    execute(app, "UPDATE outbox_mail SET failed_at = :at", at=now.replace(tzinfo=None))
    execute(
        app, "UPDATE devices SET status = 'removed' WHERE id = :d", d=first_device(app, "carol")
    )
    stats = figures(admin)
    assert values(stats["mail"]) == {"pending": 0, "failed": 1}
    assert values(stats["devices"]) == {"active": 2, "blocked": 1, "flagged": 0}

    # A deleted ID is not one.
    execute(
        app,
        "UPDATE users SET deleted_at = :at WHERE username = 'carol'",
        at=now.replace(tzinfo=None),
    )
    assert values(figures(admin)["users"]) == {"total": 3, "active": 3, "deactivated": 0}
    assert figures(admin)["backup"]["percent"] == 33.3


def test_each_audit_link_lists_as_many_events_as_its_figure(
    app: Flask, admin: Api, clock: Clock
) -> None:
    now = clock.now
    add_events(
        app,
        [
            {"kind": "signed_in", "created_at": now - timedelta(hours=23)},
            {"kind": "signed_in", "created_at": now - timedelta(hours=25)},
            {"kind": "device_duplicated", "created_at": now - timedelta(days=29)},
        ],
    )
    person(app, "bob")
    block(admin, first_device(app, "bob"))
    stats = figures(admin)
    linked = [
        stats["sign_ins"]["last_24h"],
        stats["sign_ins"]["last_30d"],
        stats["recoveries"]["last_24h"],
        stats["recoveries"]["last_30d"],
        stats["devices"]["blocked"],
    ]
    assert [f["value"] for f in linked] == [1, 2, 0, 1, 1]
    for figure in linked:
        link = urlsplit(figure["link"])
        assert link.path == "/admin/audit"
        listed = admin.get(f"/api/admin/audit?{link.query}").get_json()
        assert listed["total"] == figure["value"], figure
    since = parse_qs(urlsplit(stats["sign_ins"]["last_24h"]["link"]).query)["since"][0]
    assert since == (now - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stats["users"]["total"]["link"] == "/admin/users"
    assert stats["mail"]["pending"]["link"] is None  # no admin list of mail


def test_the_cost_does_not_grow_with_the_history(app: Flask, admin: Api, clock: Clock) -> None:
    def statements() -> int:
        counted: list[str] = []

        def count(*args: Any) -> None:
            counted.append(args[2])

        engine = app.extensions[database.ENGINE_KEY]
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            figures(admin)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(counted)

    before = statements()
    for name in ("bob", "carol"):
        person(app, name)
    add_events(app, [{"kind": "signed_in", "created_at": clock.now} for _ in range(50)])
    assert statements() == before


@pytest.mark.parametrize("role", ["helpdesk", None])
def test_only_admins_see_the_figures(app: Flask, admin: Api, role: str | None) -> None:
    other = person(app, "helen")
    if role:
        grant(app, "helen", role)
    assert error(other.get("/api/admin/stats")) == (403, "forbidden")
    assert _user_id(app, "helen")


def test_each_user_list_link_lists_as_many_ids_as_its_figure(app: Flask, admin: Api) -> None:
    person(app, "bob")
    person(app, "carol")
    carol = execute(app, "SELECT id FROM users WHERE username = 'carol'").scalar_one()
    assert admin.post(f"/api/admin/users/{carol}/deactivate", {}).status_code == 200
    execute(app, "UPDATE devices SET flagged = :t WHERE user_id = :u", t=True, u=carol)
    stats = figures(admin)
    assert values(stats["users"]) == {"total": 3, "active": 2, "deactivated": 1}
    linked = [*stats["users"].values(), stats["devices"]["flagged"]]
    linked.append({"value": stats["backup"]["with_backup"], "link": stats["backup"]["link"]})
    for figure in linked:
        link = urlsplit(figure["link"])
        assert link.path == "/admin/users"
        listed = admin.get(f"/api/admin/users?{link.query}").get_json()
        assert listed["total"] == figure["value"], figure
