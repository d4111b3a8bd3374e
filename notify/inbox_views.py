"""The inbox and activity pages and API, and the mail's block-link pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from flask_login import current_user
from sqlalchemy.orm import Session

from core import db as database
from core import policy
from core.errors import InvalidInput
from core.models import User
from core.web import (
    client_info,
    current_login_session,
    json_body,
    now,
    safe_next_path,
    signed_in_user,
)
from notify import inbox
from webauthn import views as passkey_views
from webauthn.models import Device

pages = Blueprint("inbox_pages", __name__)
api = Blueprint("inbox_api", __name__, url_prefix="/api")


def _device_id() -> int | None:
    login_session = current_login_session()
    return login_session.device_id if login_session else None


def _unread_for_sign_in(db: Session, user: User, device: Device) -> dict[str, Any]:
    """``POST /api/authenticate/complete`` answers the device's unread notifications, so the
    page can show them first."""
    return {"notifications": inbox.for_device(db, user=user, device_id=device.id, unread_only=True)}


def register_answer_extras() -> None:
    if _unread_for_sign_in not in passkey_views.sign_in_answer_extras:
        passkey_views.sign_in_answer_extras.append(_unread_for_sign_in)


# ---- API -----------------------------------------------------------------------------------


@api.get("/notifications")
def notifications() -> Response:
    """The signed-in device's notifications, newest first. Live view contract: poll with
    ``?since=<highest id seen>`` every ``poll_interval`` seconds (the database is the source,
    so every worker answers the same)."""
    user = signed_in_user()
    since = request.args.get("since", "0")
    if not since.isdigit() or len(since) > 18:
        raise InvalidInput("'since' must be a notification id.")
    items = inbox.for_device(
        database.session(), user=user, device_id=_device_id(), since=int(since)
    )
    return jsonify(
        notifications=items,
        unread=inbox.unread_count(database.session(), user=user, device_id=_device_id()),
        poll_interval=policy.current()["NOTIFICATION_POLL_INTERVAL"],
    )


@api.post("/notifications/read")
def read_all() -> Response:
    json_body()
    inbox.mark_all_read(
        database.session(), user=signed_in_user(), device_id=_device_id(), now=now()
    )
    database.session().commit()
    return Response(status=204)


@api.post("/notifications/<int:notification_id>/read")
def read(notification_id: int) -> Response:
    json_body()
    inbox.mark_read(
        database.session(),
        user=signed_in_user(),
        device_id=_device_id(),
        notification_id=notification_id,
        now=now(),
    )
    database.session().commit()
    return Response(status=204)


@api.get("/activity")
def activity() -> Response:
    return jsonify(events=inbox.activity(database.session(), user=signed_in_user()))


# ---- pages ---------------------------------------------------------------------------------


def _signed_in_page(template: str, path: str, **context: Any) -> Response | str:
    if not current_user.is_authenticated:
        return redirect(f"/signin?next={path}")
    user = signed_in_user()
    return render_template(template, user=user.to_json(), **context)


@pages.get("/account/notifications")
def notifications_page() -> Response | str:
    if not current_user.is_authenticated:
        return redirect("/signin?next=/account/notifications")
    user = signed_in_user()
    items = inbox.for_device(database.session(), user=user, device_id=_device_id())
    return render_template(
        "notify/notifications.html",
        user=user.to_json(),
        notifications=items,
        poll_interval=policy.current()["NOTIFICATION_POLL_INTERVAL"],
        next_url=safe_next_path(request.args.get("next")),
    )


@pages.get("/account/activity")
def activity_page() -> Response | str:
    if not current_user.is_authenticated:
        return redirect("/signin?next=/account/activity")
    user = signed_in_user()
    return render_template(
        "notify/activity.html",
        user=user.to_json(),
        events=inbox.activity(database.session(), user=user),
    )


@pages.get("/block/<token>")
def block_confirm(token: str) -> str:
    """Mail scanners open links: GET only shows what would happen and a form."""
    device = inbox.block_link_device(database.session(), token, now())
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
        secret_key=current_app.config["SECRET_KEY"],
        token=token,
        form=request.form.get("form_token", ""),
        client=client_info(),
        now=now(),
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
