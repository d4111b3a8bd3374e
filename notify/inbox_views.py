"""The inbox and activity pages and API, and the mail's block-link pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session

from core import db as database
from core import policy
from core.models import User
from core.schemas import Extension, NoFields, UserOut, answer, parse_body, parse_query
from core.web import (
    current_login_session,
    request_context,
    safe_next_path,
    signed_in_user,
)
from notify import inbox
from notify.schemas import Activity, NotificationsOut, NotificationsQuery, Unread
from webauthn import schemas as passkey_schemas
from webauthn.models import Device

pages = Blueprint("inbox_pages", __name__)
api = Blueprint("inbox_api", __name__, url_prefix="/api")


def _device_id() -> int | None:
    login_session = current_login_session()
    return login_session.device_id if login_session else None


def _unread_for_sign_in(db: Session, user: User, device: Device) -> Unread:
    """``POST /api/authenticate/complete`` answers the device's unread notifications, so the
    page can show them first."""
    unread = inbox.for_device(db, user=user, device_id=device.id, unread_only=True)
    return Unread.model_validate({"notifications": unread})


UNREAD_FOR_SIGN_IN = Extension(Unread, _unread_for_sign_in)


def register_answer_extras() -> None:
    if UNREAD_FOR_SIGN_IN not in passkey_schemas.sign_in_answer_extras:
        passkey_schemas.sign_in_answer_extras.append(UNREAD_FOR_SIGN_IN)


# ---- API -----------------------------------------------------------------------------------


@api.get("/notifications")
def notifications() -> Response:
    """The signed-in device's notifications, newest first. Live view contract: poll with
    ``?since=<highest id seen>`` every ``poll_interval`` seconds (the database is the source,
    so every worker answers the same)."""
    user = signed_in_user()
    query = parse_query(NotificationsQuery)
    items = inbox.for_device(
        database.session(), user=user, device_id=_device_id(), since=query.since
    )
    listed = {
        "notifications": items,
        "unread": inbox.unread_count(database.session(), user=user, device_id=_device_id()),
        "poll_interval": policy.current()["NOTIFICATION_POLL_INTERVAL"],
    }
    return answer(NotificationsOut.model_validate(listed))


@api.post("/notifications/read")
def read_all() -> Response:
    parse_body(NoFields)
    inbox.mark_all_read(database.session(), request_context(), user=signed_in_user())
    database.session().commit()
    return Response(status=204)


@api.post("/notifications/<int:notification_id>/read")
def read(notification_id: int) -> Response:
    parse_body(NoFields)
    inbox.mark_read(
        database.session(),
        request_context(),
        user=signed_in_user(),
        notification_id=notification_id,
    )
    database.session().commit()
    return Response(status=204)


@api.get("/activity")
def activity() -> Response:
    events = inbox.activity(database.session(), user=signed_in_user())
    return answer(Activity.model_validate({"events": events}))


# ---- pages ---------------------------------------------------------------------------------


def _signed_in_page(template: str, path: str, **context: Any) -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect(f"/signin?next={path}")
    user = signed_in_user()
    return render_template(template, user=UserOut.from_user(user).to_json(), **context)


@pages.get("/account/notifications")
def notifications_page() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect("/signin?next=/account/notifications")
    user = signed_in_user()
    items = inbox.for_device(database.session(), user=user, device_id=_device_id())
    return render_template(
        "notify/notifications.html",
        user=UserOut.from_user(user).to_json(),
        notifications=items,
        poll_interval=policy.current()["NOTIFICATION_POLL_INTERVAL"],
        next_url=safe_next_path(request.args.get("next")),
    )


@pages.get("/account/activity")
def activity_page() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect("/signin?next=/account/activity")
    user = signed_in_user()
    return render_template(
        "notify/activity.html",
        user=UserOut.from_user(user).to_json(),
        events=inbox.activity(database.session(), user=user),
    )


@pages.get("/block/<token>")
def block_confirm(token: str) -> str:
    """Mail scanners open links: GET only shows what would happen and a form."""
    device = inbox.block_link_device(database.session(), request_context(), token)
    return render_template(
        "notify/block.html",
        device={"name": device.name, "status": device.status},
        token=token,
        form_token=inbox.form_token(current_app.config["SECRET_KEY"], token),
        done=False,
    )


@pages.post("/block/<token>")
def block_submit(token: str) -> str:
    device, newly = inbox.block_by_link(
        database.session(),
        request_context(),
        secret_key=current_app.config["SECRET_KEY"],
        token=token,
        form=request.form.get("form_token", ""),
    )
    database.session().commit()
    return render_template(
        "notify/block.html",
        device={"name": device.name, "status": device.status},
        token=None,
        form_token=None,
        done=True,
        already=not newly,
    )
