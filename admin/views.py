"""The admin JSON API (``/api/admin``). Every endpoint answers 401 to the signed out, then 403
``forbidden`` to an ID whose roles may not do it (``admin.roles.may``: a helpdesk acting on an
admin included), then, for a change, 401 ``reauth_required`` without a fresh verification.
Views parse, call one service function, commit, answer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from admin import actions as action_service
from admin import roles as role_service
from admin import users as user_service
from admin.roles import Action
from admin.schemas import (
    AdminDevice,
    AdminUserOut,
    DeleteUser,
    EndedSessions,
    MailedBackupCode,
    PolicyAnswer,
    PolicyChanges,
    ReissueBackupCode,
    SetRoles,
    ShownBackupCode,
    UserAnswer,
    UserProfile,
    UsersPage,
    UsersQuery,
)
from admin.web import acting_on, allowed
from core import db as database
from core import policy
from core.models import User
from core.schemas import NoFields, answer, parse_body, parse_query
from core.web import request_context, session_policy
from recovery.web import settings as backup_settings
from webauthn.models import Device
from webauthn.schemas import DeviceOut
from webauthn.web import settings

api = Blueprint("admin_api", __name__, url_prefix="/api/admin")


@api.get("/users")
def users() -> Response:
    query = parse_query(UsersQuery)
    allowed(Action.VIEW_USERS)
    page = user_service.list_users(
        database.session(),
        q=query.q,
        status=query.status,
        role=query.role,
        backup=query.backup,
        flagged=query.flagged,
        page=query.page,
        per_page=query.per_page,
    )
    return answer(UsersPage.from_page(page))


@api.get("/users/<int:user_id>")
def user(user_id: int) -> Response:
    _actor, target = acting_on(user_id, Action.VIEW_USERS)
    detail = user_service.user_detail(database.session(), settings(), request_context(), target)
    return answer(UserProfile.from_detail(detail))


@api.put("/users/<int:user_id>/roles")
def set_roles(user_id: int) -> Response:
    actor, target = acting_on(user_id, Action.MANAGE_ROLES, changes=True)
    body = parse_body(SetRoles)
    db = database.session()
    role_service.set_roles(db, request_context(), target, body.roles, actor_user_id=actor.id)
    db.commit()
    return _user_answer(target)


def _device(device_id: int) -> tuple[User, Device]:
    """The acting ID and a device it may act on (its owner not an admin, for a helpdesk)."""
    allowed(Action.ACT_ON_USER)
    device, owner = action_service.find_device(database.session(), device_id)
    return allowed(Action.ACT_ON_USER, owner, changes=True), device


@api.post("/devices/<int:device_id>/block")
def block_device(device_id: int) -> Response:
    actor, device = _device(device_id)
    parse_body(NoFields)
    action_service.block_device(database.session(), request_context(), device, actor=actor)
    database.session().commit()
    return answer(AdminDevice(device=DeviceOut.from_device(device, None)))


@api.post("/devices/<int:device_id>/unblock")
def unblock_device(device_id: int) -> Response:
    actor, device = _device(device_id)
    parse_body(NoFields)
    device = action_service.unblock_device(
        database.session(), request_context(), device, actor=actor
    )
    database.session().commit()
    return answer(AdminDevice(device=DeviceOut.from_device(device, None)))


@api.delete("/devices/<int:device_id>")
def remove_device(device_id: int) -> Response:
    actor, device = _device(device_id)
    action_service.remove_device(database.session(), request_context(), device, actor=actor)
    database.session().commit()
    return Response(status=204)


@api.post("/users/<int:user_id>/sessions/end")
def end_sessions(user_id: int) -> Response:
    actor, target = acting_on(user_id, Action.ACT_ON_USER, changes=True)
    parse_body(NoFields)
    ended = action_service.end_sessions(
        database.session(), request_context(), target, actor=actor, policy=session_policy()
    )
    database.session().commit()
    return answer(EndedSessions(ended=ended))


@api.delete("/users/<int:user_id>/sessions/<int:session_id>")
def end_session(user_id: int, session_id: int) -> Response:
    actor, target = acting_on(user_id, Action.ACT_ON_USER, changes=True)
    action_service.end_session(
        database.session(),
        request_context(),
        target,
        session_id,
        actor=actor,
        policy=session_policy(),
    )
    database.session().commit()
    return Response(status=204)


def _user_answer(target: User) -> Response:
    """``{"user": …}``: the ID as a line of the list, after a change to it."""
    return answer(
        UserAnswer(user=AdminUserOut.from_row(user_service.user_row(database.session(), target)))
    )


@api.post("/users/<int:user_id>/deactivate")
def deactivate(user_id: int) -> Response:
    actor, target = acting_on(user_id, Action.ACT_ON_USER, changes=True)
    parse_body(NoFields)
    action_service.deactivate(
        database.session(), request_context(), target, actor=actor, policy=session_policy()
    )
    database.session().commit()
    return _user_answer(target)


@api.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int) -> Response:
    actor, target = acting_on(user_id, Action.ACT_ON_USER, changes=True)
    parse_body(NoFields)
    action_service.reactivate(database.session(), request_context(), target, actor=actor)
    database.session().commit()
    return _user_answer(target)


@api.delete("/users/<int:user_id>")
def delete_user(user_id: int) -> Response:
    actor, target = acting_on(user_id, Action.DELETE_USER, changes=True)
    body = parse_body(DeleteUser)
    action_service.delete(
        database.session(), request_context(), target, actor=actor, confirm=body.confirm
    )
    database.session().commit()
    return Response(status=204)


@api.post("/users/<int:user_id>/backup-code")
def reissue_backup_code(user_id: int) -> Response:
    actor, target = acting_on(user_id, Action.ACT_ON_USER, changes=True)
    body = parse_body(ReissueBackupCode)
    new_code = action_service.reissue_backup_code(
        database.session(),
        backup_settings(),
        request_context(),
        target,
        deliver=body.deliver,
        allowed_channels=policy.current()["BACKUP_REISSUE_CHANNELS"],
        actor=actor,
    )
    database.session().commit()
    if new_code.code is None:
        return answer(MailedBackupCode(delivered="email"), status=202)
    return answer(ShownBackupCode(backup_code=new_code.code))


@api.get("/policy")
def policies() -> Response:
    allowed(Action.MANAGE_POLICIES)
    described = policy.describe(database.session(), current_app.config)
    return answer(PolicyAnswer.from_described(described))


@api.patch("/policy")
def update_policy() -> Response:
    actor = allowed(Action.MANAGE_POLICIES, changes=True)
    body = parse_body(PolicyChanges)
    db = database.session()
    policy.set_policies(db, request_context(), body.changes, actor_user_id=actor.id)
    db.commit()
    return answer(PolicyAnswer.from_described(policy.describe(db, current_app.config)))
