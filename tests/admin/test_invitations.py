"""Invitations from the admin API and the CLI: made, listed, revoked and imported from a CSV
file by administrators only (a normal ID and a helpdesk get 403 on every route and change
nothing), each audited with the administrator as actor; a mailed link arrives through the
outbox; a role on an invitation is granted when its ID is created; a CSV file with one bad row
creates nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask

from core.security import token_hash
from tests.admin.test_admin_api import grant, person
from tests.clock import Clock, stale
from tests.conftest import ORIGIN, Api, error, execute
from tests.mail import Mailbox
from tests.webauthn.test_registration_policy import sign_up

BASE = "/api/admin/invitations"


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def _id(app: Flask, username: str) -> int:
    return int(execute(app, "SELECT id FROM users WHERE username = :u", u=username).scalar_one())


def _audit(app: Flask, kind: str) -> list[dict[str, Any]]:
    rows = execute(app, "SELECT data FROM audit_events WHERE kind = :k ORDER BY id", k=kind)
    return [d if isinstance(d, dict) else json.loads(d) for d in rows.scalars().all()]


def _invitations(app: Flask) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(r)
        for r in execute(app, "SELECT id, email, used_at, revoked_at, expires_at FROM invitations")
    )


def _state(app: Flask) -> list[Any]:
    """What an invitation route could change: invitations, mail, IDs."""
    return [
        _invitations(app),
        execute(app, "SELECT count(*) FROM outbox_mail").scalar_one(),
        execute(app, "SELECT count(*) FROM users").scalar_one(),
    ]


def _csv(api: Api, text: str, content_type: str = "text/csv") -> Any:
    return api.client.post(
        f"{BASE}/import",
        data=text.encode(),
        headers={"Origin": api.origin, "Content-Type": content_type},
    )


def _seconds(moment: Any) -> float:
    """A stored time as seconds (SQLite hands back text, PostgreSQL a datetime)."""
    from datetime import datetime

    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=None).timestamp()


def _token(url: str) -> str:
    assert url.startswith(f"{ORIGIN}/signup?invitation="), url
    return url.split("=", 1)[1]


def _invite(api: Api, **body: Any) -> Any:
    return api.post(BASE, {"email": "new@example.com", "deliver": "display", **body})


# ---- inviting ------------------------------------------------------------------------------


def test_admin_invites_for_display_and_the_link_creates_an_id(app: Flask, admin: Api) -> None:
    answer = _invite(admin)
    assert answer.status_code == 201, answer.get_json()
    invitation = answer.get_json()["invitation"]
    assert invitation["email"] == "new@example.com" and invitation["delivery"] == "display"
    assert "<svg" in invitation["qr_svg"]
    token = _token(invitation["url"])
    # Only the token's hash is stored.
    stored = execute(app, "SELECT token_hash FROM invitations").scalar_one()
    assert bytes(stored) == token_hash(token) and token.encode() not in bytes(stored)
    created = _audit(app, "invitation_created")
    assert created[0]["actor_user_id"] == _id(app, "root") and "url" not in created[0]
    assert token not in json.dumps(created)
    assert sign_up(Api(app.test_client()), token, "newbie").status_code == 201
    listed = admin.get(BASE).get_json()["invitations"]
    assert [(i["status"], i["used_by_user_id"]) for i in listed] == [("used", _id(app, "newbie"))]
    assert "url" not in listed[0] and "token_hash" not in listed[0]


def test_a_mailed_invitation_arrives_and_its_answer_holds_no_link(
    app: Flask, admin: Api, mailbox: Mailbox
) -> None:
    answer = _invite(admin, deliver="email", username="newbie")
    assert answer.status_code == 201
    invitation = answer.get_json()["invitation"]
    assert invitation["url"] is None and invitation["qr_svg"] is None
    message = mailbox.wait_for(to="new@example.com")[0]
    assert "invited" in str(message["Subject"])
    link = re.search(r"http://\S+/signup\?invitation=\S+", mailbox.text(message))
    assert link is not None
    created = sign_up(Api(app.test_client()), _token(link.group(0)), "newbie")
    assert created.status_code == 201
    assert created.get_json()["user"]["email_verified"] is True


def test_the_role_of_an_invitation_is_granted_by_the_inviting_admin(app: Flask, admin: Api) -> None:
    token = _token(_invite(admin, role="helpdesk").get_json()["invitation"]["url"])
    new = Api(app.test_client())
    assert sign_up(new, token, "helen").status_code == 201
    roles = execute(app, "SELECT user_id, role FROM user_roles ORDER BY user_id").all()
    assert (_id(app, "helen"), "helpdesk") in [tuple(r) for r in roles]
    granted = _audit(app, "role_granted")[-1]
    assert granted["role"] == "helpdesk" and granted["actor_user_id"] == _id(app, "root")
    accepted = _audit(app, "invitation_accepted")[0]
    assert accepted["role"] == "helpdesk" and accepted["actor_user_id"] == _id(app, "root")
    assert new.get("/api/admin/users").status_code == 200  # a helpdesk now


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"email": "root@example.com"}, (409, "email_in_use")),
        ({"username": "ROOT"}, (409, "username_taken")),
        ({"email": "not an address"}, (400, "invalid_input")),
        ({"username": "a b"}, (400, "invalid_input")),
        ({"role": "owner"}, (400, "invalid_input")),
        ({"deliver": "fax"}, (400, "invalid_input")),
    ],
)
def test_bad_invitations_are_refused_and_change_nothing(
    app: Flask, admin: Api, body: dict[str, Any], expected: tuple[int, str]
) -> None:
    before = _state(app)
    assert error(_invite(admin, **body)) == expected
    assert _state(app) == before


def test_a_username_kept_by_a_pending_invitation_is_not_given_twice(app: Flask, admin: Api) -> None:
    assert _invite(admin, username="newbie").status_code == 201
    assert error(_invite(admin, email="b@example.com", username="NEWBIE")) == (
        409,
        "username_taken",
    )


# ---- listing and revoking ------------------------------------------------------------------


def test_the_list_shows_each_status(app: Flask, admin: Api, clock: Clock) -> None:
    short = _invite(admin, email="expired@example.com")
    execute(
        app,
        "UPDATE invitations SET expires_at = created_at WHERE id = :i",
        i=short.get_json()["invitation"]["id"],
    )
    revoked = _invite(admin, email="revoked@example.com").get_json()["invitation"]["id"]
    assert admin.delete(f"{BASE}/{revoked}").status_code == 204
    used = _token(_invite(admin, email="used@example.com").get_json()["invitation"]["url"])
    assert sign_up(Api(app.test_client()), used, "used").status_code == 201
    _invite(admin, email="pending@example.com")
    listed = admin.get(BASE).get_json()["invitations"]
    assert {i["email"]: i["status"] for i in listed} == {
        "expired@example.com": "expired",
        "revoked@example.com": "revoked",
        "used@example.com": "used",
        "pending@example.com": "pending",
    }


def test_a_revoked_invitation_opens_nothing(app: Flask, admin: Api) -> None:
    invitation = _invite(admin).get_json()["invitation"]
    assert admin.delete(f"{BASE}/{invitation['id']}").status_code == 204
    assert _audit(app, "invitation_revoked")[0]["actor_user_id"] == _id(app, "root")
    refused = sign_up(Api(app.test_client()), _token(invitation["url"]), "newbie")
    assert error(refused) == (403, "invitation_required")
    assert admin.delete(f"{BASE}/{invitation['id']}").status_code == 204  # again: nothing new
    assert len(_audit(app, "invitation_revoked")) == 1
    assert error(admin.delete(f"{BASE}/999999")) == (404, "invitation_not_found")


def test_a_used_invitation_cannot_be_revoked(app: Flask, admin: Api) -> None:
    invitation = _invite(admin).get_json()["invitation"]
    assert sign_up(Api(app.test_client()), _token(invitation["url"]), "newbie").status_code == 201
    assert error(admin.delete(f"{BASE}/{invitation['id']}")) == (409, "invitation_used")


# ---- the gate ------------------------------------------------------------------------------

ROUTES = [
    ("post", BASE, {"email": "x@example.com", "deliver": "email"}),
    ("get", BASE, None),
    ("delete", BASE + "/{invitation}", None),
    ("post_csv", BASE + "/import", "email,username,role\nx@example.com,,\n"),
]


def _call(app: Flask, api: Api, method: str, path: str, body: Any) -> Any:
    invitation = execute(app, "SELECT min(id) FROM invitations").scalar_one()
    path = path.format(invitation=invitation)
    if method == "get":
        return api.get(path)
    if method == "delete":
        return api.delete(path)
    if method == "post_csv":
        return _csv(api, body)
    return api.post(path, body)


@pytest.fixture
def pending(app: Flask, admin: Api) -> None:
    assert _invite(admin).status_code == 201


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("role", [None, "helpdesk"])
def test_only_admins_manage_invitations(
    app: Flask, admin: Api, pending: None, method: str, path: str, body: Any, role: str | None
) -> None:
    someone = person(app, "mallory")
    if role:
        grant(app, "mallory", role)
    before = _state(app)
    assert error(_call(app, someone, method, path, body)) == (403, "forbidden")
    assert _state(app) == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_signed_out_gets_401(
    app: Flask, admin: Api, pending: None, method: str, path: str, body: Any
) -> None:
    before = _state(app)
    assert _call(app, Api(app.test_client()), method, path, body).status_code == 401
    assert _state(app) == before


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if r[0] != "get"])
def test_changes_need_a_fresh_verification(
    app: Flask, admin: Api, pending: None, clock: Clock, method: str, path: str, body: Any
) -> None:
    stale(clock, app)
    before = _state(app)
    assert error(_call(app, admin, method, path, body)) == (401, "reauth_required")
    assert _state(app) == before


# ---- CSV import ----------------------------------------------------------------------------


def test_a_good_file_invites_everyone_by_mail(app: Flask, admin: Api, mailbox: Mailbox) -> None:
    text = "email,username,role\nann@example.com,ann,\nben@example.com,,helpdesk\n"
    answer = _csv(admin, text)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "results": [{"row": 2, "ok": True}, {"row": 3, "ok": True}],
        "created": 2,
    }
    rows = execute(app, "SELECT email, username, role, delivery FROM invitations ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("ann@example.com", "ann", None, "email"),
        ("ben@example.com", None, "helpdesk", "email"),
    ]
    mailbox.wait_for(to="ann@example.com")
    mailbox.wait_for(to="ben@example.com")
    assert len(_audit(app, "invitation_created")) == 2


def test_a_file_with_bad_rows_creates_nothing_and_says_which(app: Flask, admin: Api) -> None:
    person(app, "taken")
    text = "\n".join(
        [
            "email,username,role",
            "good@example.com,good,",  # 2
            "not-an-address,,",  # 3
            "bad@example.com,no spaces,",  # 4
            "role@example.com,,owner",  # 5
            "GOOD@example.com,,",  # 6: the address twice
            "twice@example.com,Good,",  # 7: the username twice
            "other@example.com,TAKEN,",  # 8: an ID's username
            "taken@example.com,,",  # 9: an ID's address
            "short@example.com,,admin,extra",  # 10
        ]
    )
    before = _state(app)
    answer = _csv(admin, text)
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert answer.get_json()["created"] == 0
    assert [r["row"] for r in results if not r["ok"]] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert results[0] == {"row": 2, "ok": True}
    assert all(r["error"] for r in results if not r["ok"])
    assert "twice" in results[4]["error"] and "twice" in results[5]["error"]
    assert _state(app) == before


@pytest.mark.parametrize(
    "text",
    [
        "",
        "email,username,role\n",
        "mail,name,role\nann@example.com,,\n",
        "ann@example.com,ann,\n",
        'email,username,role\n"unterminated,,\n',
        "email,username,role\n" + "x@example.com,,\n" * 1001,
    ],
    ids=["empty", "no rows", "wrong header", "no header", "not csv", "too many rows"],
)
def test_a_file_that_is_not_such_a_csv_is_invalid_input(app: Flask, admin: Api, text: str) -> None:
    before = _state(app)
    assert error(_csv(admin, text)) == (400, "invalid_input")
    assert _state(app) == before


def test_the_import_takes_text_csv_only(app: Flask, admin: Api) -> None:
    before = _state(app)
    answer = _csv(admin, '{"email": "x@example.com"}', content_type="application/json")
    assert error(answer) == (415, "unsupported_media_type")
    assert error(_csv(admin, "email,username,role\n", content_type="text/plain"))[0] == 415
    assert _state(app) == before
    # ...and the rest of the API still takes JSON only.
    csv_elsewhere = admin.client.post(
        BASE, data="email,username,role\n", headers={"Origin": ORIGIN, "Content-Type": "text/csv"}
    )
    assert error(csv_elsewhere) == (415, "unsupported_media_type")


# ---- the CLI -------------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"REGISTRATION": "closed"}], indirect=True)
def test_the_cli_prints_an_enrollment_link_for_a_closed_server(app: Flask, clock: Clock) -> None:
    result = app.test_cli_runner().invoke(
        args=["admin", "invite", "--role", "admin", "--email", "boss@example.com"]
    )
    assert result.exit_code == 0, result.output
    link = re.search(r"http://\S+", result.output)
    assert link is not None
    row = execute(app, "SELECT created_at, expires_at FROM invitations").one()
    assert _seconds(row.expires_at) - _seconds(row.created_at) == 86400
    boss = Api(app.test_client())
    assert sign_up(boss, _token(link.group(0)), "boss").status_code == 201
    assert boss.get("/api/admin/policy").status_code == 200  # an administrator
    granted = _audit(app, "role_granted")[0]
    assert granted["actor"].startswith("cli:") and granted["role"] == "admin"
    # Used once.
    assert sign_up(Api(app.test_client()), _token(link.group(0)), "again").status_code == 403


def test_the_cli_link_lasts_24_hours(app: Flask, clock: Clock) -> None:
    result = app.test_cli_runner().invoke(
        args=["admin", "invite", "--role", "helpdesk", "--email", "h@example.com"]
    )
    assert result.exit_code == 0, result.output
    token = _token(re.search(r"http://\S+", result.output).group(0))  # type: ignore[union-attr]
    clock.advance(86400)
    assert error(sign_up(Api(app.test_client()), token, "helen")) == (403, "invitation_required")


def test_the_cli_refuses_an_address_that_has_an_id(app: Flask, signed_in: Api) -> None:
    result = app.test_cli_runner().invoke(
        args=["admin", "invite", "--role", "admin", "--email", "alice@example.com"]
    )
    assert result.exit_code != 0 and "exists already" in result.output
    assert _invitations(app) == []
