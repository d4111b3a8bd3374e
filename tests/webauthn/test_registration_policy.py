"""Who may create an ID (REGISTRATION: open, invite, closed) and what an invitation opens:
only the sign-up of a new ID is gated (adding a device and pairing are not); an invitation
link works whatever the policy says; an unknown, expired, used or revoked token is refused
alike and creates nothing; a token is used once, even by two sign-ups racing; the sign-up page
says why it cannot create an ID, in the server's own words."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from core import db as database
from core.context import RequestContext
from tests.clock import Clock
from tests.conftest import ORIGIN, Api, error, execute, snapshot
from tools.softauthn import SoftAuthenticator
from webauthn import invitations
from webauthn.errors import InvitationInvalid, InvitationRequired, RegistrationClosed
from webauthn.models import Invitation, InvitationDelivery

INVITE = [{"REGISTRATION": "invite"}]
CLOSED = [{"REGISTRATION": "closed"}]


def invite(
    app: Flask,
    email: str = "newbie@example.com",
    *,
    username: str | None = None,
    delivery: InvitationDelivery = InvitationDelivery.DISPLAY,
    ttl: int = 3600,
) -> str:
    """A pending invitation's token (made as the CLI would)."""
    with app.app_context():
        db = database.session()
        created = invitations.create(
            db,
            RequestContext.outside_request("cli:test"),
            email=email,
            username=username,
            role=None,
            delivery=delivery,
            ttl=ttl,
            origin=ORIGIN,
            actor="cli:test",
        )
        db.commit()
        return created.token


def begin(api: Api, token: str | None, username: str = "newbie", **extra: Any) -> Any:
    body: dict[str, Any] = {"username": username, **extra}
    if token is not None:
        body["invitation"] = token
    if token is None and "email" not in body:
        body["email"] = f"{username}@example.com"
    return api.post("/api/register/begin", body)


def sign_up(api: Api, token: str | None, username: str = "newbie", **extra: Any) -> Any:
    started = begin(api, token, username, **extra)
    if started.status_code != 200:
        return started
    credential = SoftAuthenticator(origin=ORIGIN).create(started.get_json())
    return api.post("/api/register/complete", {**credential, "device_name": "Laptop"})


def users(app: Flask) -> list[str]:
    return sorted(execute(app, "SELECT username FROM users").scalars().all())


def used_at(app: Flask) -> list[Any]:
    return execute(app, "SELECT used_at FROM invitations ORDER BY id").scalars().all()


def set_policy(app: Flask, value: str) -> None:
    result = app.test_cli_runner().invoke(args=["policy", "set", "REGISTRATION", value])
    assert result.exit_code == 0, result.output


# ---- the policy ----------------------------------------------------------------------------


def test_open_registration_needs_no_invitation(app: Flask, api: Api) -> None:
    assert sign_up(api, None).status_code == 201
    assert users(app) == ["newbie"]


@pytest.mark.parametrize("config_overrides", CLOSED, indirect=True)
def test_closed_registration_refuses_and_changes_nothing(app: Flask, api: Api) -> None:
    before = snapshot(app)
    answer = begin(api, None)
    assert error(answer) == (403, "registration_closed")
    assert answer.get_json()["message"] == RegistrationClosed.message
    assert snapshot(app) == before
    assert execute(app, "SELECT count(*) FROM challenges").scalar_one() == 0


@pytest.mark.parametrize("config_overrides", INVITE, indirect=True)
def test_invite_only_registration_refuses_without_an_invitation(app: Flask, api: Api) -> None:
    before = snapshot(app)
    answer = begin(api, None)
    assert error(answer) == (403, "invitation_required")
    assert answer.get_json()["message"] == InvitationRequired.message
    assert snapshot(app) == before


@pytest.mark.parametrize("config_overrides", INVITE, indirect=True)
def test_an_invitation_opens_sign_up_and_is_used_up(app: Flask, api: Api) -> None:
    token = invite(app)
    created = sign_up(api, token)
    assert created.status_code == 201, created.get_json()
    user = created.get_json()["user"]
    # The ID gets the invitation's address; shown to the admin, it is not proven yet.
    assert user["email"] == "newbie@example.com" and user["email_verified"] is False
    row = execute(app, "SELECT used_at, used_by_user_id FROM invitations").one()
    assert row.used_at is not None and row.used_by_user_id == user["id"]
    kinds = execute(app, "SELECT kind FROM audit_events ORDER BY id").scalars().all()
    assert "invitation_accepted" in kinds


@pytest.mark.parametrize("config_overrides", CLOSED, indirect=True)
def test_an_invitation_works_even_when_registration_is_closed(app: Flask, api: Api) -> None:
    assert sign_up(api, invite(app)).status_code == 201
    assert users(app) == ["newbie"]


def test_a_mailed_invitation_proves_the_address(app: Flask, api: Api) -> None:
    token = invite(app, delivery=InvitationDelivery.EMAIL)
    created = sign_up(api, token)
    assert created.status_code == 201
    assert created.get_json()["user"]["email_verified"] is True
    # So no confirmation code is mailed to it.
    kinds = execute(app, "SELECT kind FROM outbox_mail").scalars().all()
    assert "email_code_verify_email" not in kinds


def test_the_invitation_fixes_address_and_username(app: Flask, api: Api) -> None:
    token = invite(app, username="Bob.Smith")
    assert error(begin(api, token, "someone"))[0] == 400
    assert error(begin(api, token, "bob.smith", email="other@example.com"))[0] == 400
    created = sign_up(api, token, "BOB.SMITH")  # any case: the invitation's spelling is kept
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["user"]["username"] == "Bob.Smith"


# ---- refused tokens ------------------------------------------------------------------------


def _expired(app: Flask, clock: Clock) -> str:
    token = invite(app, ttl=3600)
    clock.advance(3600)
    return token


def _used(app: Flask, clock: Clock) -> str:
    token = invite(app)
    assert sign_up(Api(app.test_client()), token, "first").status_code == 201
    return token


def _revoked(app: Flask, clock: Clock) -> str:
    token = invite(app)
    with app.app_context():
        db = database.session()
        db.execute(sa.update(Invitation).values(revoked_at=clock.now))
        db.commit()
    return token


def _forged(app: Flask, clock: Clock) -> str:
    invite(app)
    return "A" * 43


@pytest.mark.parametrize("config_overrides", INVITE, indirect=True)
@pytest.mark.parametrize("kind", [_expired, _used, _revoked, _forged], ids=lambda f: f.__name__)
def test_a_token_that_cannot_be_used_is_refused_alike_and_creates_nothing(
    app: Flask, api: Api, clock: Clock, kind: Any
) -> None:
    token = kind(app, clock)
    before = snapshot(app)
    answer = begin(api, token)
    assert error(answer) == (403, "invitation_required")
    assert answer.get_json()["message"] == InvitationInvalid.message
    assert snapshot(app) == before


def test_a_token_is_used_once_even_by_two_sign_ups_racing(app: Flask) -> None:
    token = invite(app)
    first, second = Api(app.test_client()), Api(app.test_client())
    started = [begin(first, token, "first"), begin(second, token, "second")]
    assert [s.status_code for s in started] == [200, 200]  # the begin only looks
    credentials = [SoftAuthenticator(origin=ORIGIN).create(s.get_json()) for s in started]
    done = first.post("/api/register/complete", {**credentials[0], "device_name": "A"})
    assert done.status_code == 201
    before = snapshot(app)
    late = second.post("/api/register/complete", {**credentials[1], "device_name": "B"})
    assert error(late) == (403, "invitation_required")
    assert snapshot(app) == before
    assert users(app) == ["first"]


def test_closing_registration_after_the_begin_refuses_the_complete(app: Flask, api: Api) -> None:
    started = begin(api, None)
    assert started.status_code == 200
    set_policy(app, "closed")
    credential = SoftAuthenticator(origin=ORIGIN).create(started.get_json())
    answer = api.post("/api/register/complete", {**credential, "device_name": "A"})
    assert error(answer) == (403, "registration_closed")
    assert users(app) == []


# ---- what is not gated ---------------------------------------------------------------------


def test_devices_and_pairing_are_not_gated(
    app: Flask, signed_in: Api, authenticator: SoftAuthenticator
) -> None:
    set_policy(app, "closed")
    added = signed_in.add_device(SoftAuthenticator(attachment="cross-platform"))
    assert added.status_code == 201, added.get_json()
    assert signed_in.post("/api/pairing").status_code == 201
    assert signed_in.sign_in(authenticator).status_code == 200


# ---- backup on enrollment ------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_overrides", [{"REGISTRATION": "invite", "BACKUP_MODE": "on_enrollment"}], indirect=True
)
def test_an_invited_sign_up_goes_on_to_backup_like_any_other(app: Flask, api: Api) -> None:
    created = sign_up(api, invite(app, delivery=InvitationDelivery.EMAIL))
    assert created.status_code == 201
    assert created.get_json()["backup_required"] is True
    assert api.get("/api/backup").get_json()["prompt"] is True


# ---- the page ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config_overrides", "message"),
    [(CLOSED[0], RegistrationClosed.message), (INVITE[0], InvitationRequired.message)],
    indirect=["config_overrides"],
)
def test_the_page_says_why_it_cannot_create_an_id(app: Flask, client: Any, message: str) -> None:
    html = client.get("/signup").get_data(as_text=True)
    assert message in html
    assert 'id="signup-form"' not in html


@pytest.mark.parametrize("config_overrides", INVITE, indirect=True)
def test_the_page_fills_in_the_invitation(app: Flask, client: Any, clock: Clock) -> None:
    token = invite(app, username="newbie")
    html = client.get(f"/signup?invitation={token}").get_data(as_text=True)
    assert 'id="signup-form"' in html
    assert 'value="newbie@example.com" readonly' in html
    assert 'value="newbie" readonly' in html
    clock.advance(3600)
    expired = client.get(f"/signup?invitation={token}").get_data(as_text=True)
    assert InvitationInvalid.message in expired and 'id="signup-form"' not in expired


def test_deleting_the_id_erases_what_its_invitation_held(app: Flask, api: Api) -> None:
    token = invite(app, username="newbie")
    assert sign_up(api, token).status_code == 201
    deleted = api.client.delete(
        "/api/me", json={"confirm": "newbie"}, headers={"Origin": api.origin}
    )
    assert deleted.status_code == 204, deleted.get_json()
    row = execute(app, "SELECT email, username, used_at FROM invitations").one()
    assert (row.email, row.username) == ("", None) and row.used_at is not None
    audited = execute(app, "SELECT data FROM audit_events").scalars().all()
    assert "newbie@example.com" not in str(audited)


def test_two_completes_at_the_same_moment_create_one_id(app: Flask) -> None:
    """Truly concurrent: whichever complete runs second finds the invitation used (or, on
    SQLite, waits for the first writer) and creates nothing."""
    token = invite(app)
    browsers = [Api(app.test_client()), Api(app.test_client())]
    started = [begin(b, token, name) for b, name in zip(browsers, ("first", "second"), strict=True)]
    bodies = [
        {**SoftAuthenticator(origin=ORIGIN).create(s.get_json()), "device_name": "A"}
        for s in started
    ]
    barrier = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def complete(i: int) -> None:
        barrier.wait()
        answers[i] = browsers[i].post("/api/register/complete", bodies[i])

    threads = [threading.Thread(target=complete, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 1, [a.get_json() for a in answers]
    assert len(users(app)) == 1
    assert (
        execute(app, "SELECT count(*) FROM invitations WHERE used_at IS NOT NULL").scalar_one() == 1
    )


# ---- boundaries ----------------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", INVITE, indirect=True)
def test_an_invitation_that_expires_between_begin_and_complete_creates_nothing(
    app: Flask, api: Api, clock: Clock
) -> None:
    """Begun one second before the link expires, completed at the very second it does: the
    conditional UPDATE that uses it up finds it no longer live."""
    token = invite(app, ttl=3600)
    clock.advance(3599)
    started = begin(api, token)
    assert started.status_code == 200, started.get_json()
    clock.advance(1)
    credential = SoftAuthenticator(origin=ORIGIN).create(started.get_json())
    done = api.post("/api/register/complete", {**credential, "device_name": "Laptop"})
    assert error(done) == (403, "invitation_required")
    assert "newbie" not in users(app) and used_at(app) == [None]


def test_an_invitation_token_longer_than_any_we_make_is_bad_input(app: Flask, api: Api) -> None:
    from webauthn.invitations import MAX_TOKEN_LENGTH

    too_long = begin(api, "A" * (MAX_TOKEN_LENGTH + 1))
    assert error(too_long) == (400, "invalid_input")
    at_limit = begin(api, "A" * MAX_TOKEN_LENGTH)
    assert error(at_limit) == (403, "invitation_required")


def test_an_invitation_role_must_be_a_role_name(app: Flask) -> None:
    from core.errors import InvalidInput

    with app.app_context(), pytest.raises(InvalidInput):
        invitations.create(
            database.session(),
            RequestContext.outside_request("cli:test"),
            email="newbie@example.com",
            username=None,
            role="Admin; drop",
            delivery=InvitationDelivery.DISPLAY,
            ttl=3600,
            origin=ORIGIN,
            actor="cli:test",
        )
