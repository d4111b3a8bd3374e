"""Mail that backup and recovery events (and invitations) call for, written to the outbox in
the event's transaction (so nothing is sent for a change that rolled back)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from core import events
from core.security import ClientInfo
from notify.inbox import announce, create_block_link
from notify.outbox import enqueue
from webauthn.models import Device

PURPOSE_TEXT = {
    "activate": "activate backup",
    "regenerate": "make a new backup code",
    "recover": "restore your ID on a new device",
    "verify_email": "confirm your email address",
    "change_email": "make this your email address",
    "backup_email": "make this your backup email address",
}


def _client_facts(client: ClientInfo) -> dict[str, str]:
    return {"ip": client.ip or "unknown", "browser": client.user_agent or "unknown"}


def _email_code(db: Session, event: events.EmailCodeIssued) -> None:
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="email_code",
        kind=f"email_code_{event.purpose}",
        user_id=event.user_id,
        # The code is how an address gets proven: the one mail an unproven address gets.
        verification=True,
        context={
            "code": event.code,
            "purpose": event.purpose,
            "purpose_text": PURPOSE_TEXT.get(event.purpose, event.purpose),
            "valid_minutes": event.valid_minutes,
            **_client_facts(event.ctx.client),
        },
    )


def _backup_code(db: Session, event: events.BackupCodeDelivered) -> None:
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="backup_code",
        kind="backup_code",
        user_id=event.user_id,
        context={"code": event.code},
    )


def _regenerated(db: Session, event: events.BackupCodeRegenerated) -> None:
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="backup_regenerated",
        kind="backup_regenerated",
        user_id=event.user_id,
        context=_client_facts(event.ctx.client),
    )


def _reissued(db: Session, event: events.BackupCodeReissued) -> None:
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="backup_reissued",
        kind="backup_reissued",
        user_id=event.user_id,
        context={"delivered": event.delivered},
    )


def _recovered(db: Session, event: events.DeviceRecovered) -> None:
    """A restore or duplicate, told to the address with a link to block the new device."""
    device = db.get(Device, event.device_id)
    token = create_block_link(db, device, event.ctx.now) if device is not None else None
    block_url = f"{current_app.config['ORIGIN']}/block/{token}" if token else None
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="device_recovered",
        kind=f"device_{event.mode}",
        user_id=event.user_id,
        context={
            "mode": event.mode,
            "device_name": event.device_name,
            "at": event.at,
            "removed_devices": list(event.removed_devices),
            "block_url": block_url,
            **_client_facts(event.ctx.client),
        },
    )


def _email_changed(db: Session, event: events.EmailChanged) -> None:
    """Every device is told in-app; the old address by mail, if it was ever proven (``to``)."""
    if event.user_id is None:
        return
    announce(
        db,
        event.ctx,
        "email_changed",
        user_id=event.user_id,
        subject_device_id=None,
        device_name="",
        mail=False,
    )
    if event.to:
        enqueue(
            db,
            event.ctx.now,
            to=event.to,
            template="email_changed",
            kind="email_changed",
            user_id=event.user_id,
            # No longer the ID's address, but it was proven until a moment ago: told once.
            verification=True,
            context={"new_address": event.new_address, **_client_facts(event.ctx.client)},
        )


def _user_deleted(db: Session, event: events.UserDeleted) -> None:
    # Queued before the ID's row loses the address: ``to`` travels in the event.
    if not event.to:
        return
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="user_deleted",
        kind="user_deleted",
        user_id=event.user_id,
        context={
            "username": event.username,
            "at": event.ctx.now.strftime("%Y-%m-%d %H:%M UTC"),
            "by_administrator": event.actor_user_id is not None,
            **_client_facts(event.ctx.client),
        },
    )


def _invitation(db: Session, event: events.InvitationDelivered) -> None:
    """An administrator's invitation, mailed: no ID yet, so no proven address to check (the
    administrator chose it; the sign-up it opens proves it)."""
    enqueue(
        db,
        event.ctx.now,
        to=event.to,
        template="invitation",
        kind="invitation",
        context={
            "url": event.url,
            "username": event.username,
            "expires": event.expires,
        },
    )


def connect() -> None:
    """Idempotent: ``events.subscribe`` keeps one subscription per (event, handler)."""
    events.subscribe(events.EmailCodeIssued, _email_code)
    events.subscribe(events.BackupCodeDelivered, _backup_code)
    events.subscribe(events.BackupCodeRegenerated, _regenerated)
    events.subscribe(events.BackupCodeReissued, _reissued)
    events.subscribe(events.DeviceRecovered, _recovered)
    events.subscribe(events.EmailChanged, _email_changed)
    events.subscribe(events.UserDeleted, _user_deleted)
    events.subscribe(events.InvitationDelivered, _invitation)
