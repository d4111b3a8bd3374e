"""Mail that backup and recovery events call for, written to the outbox in the event's
transaction (so nothing is sent for a change that rolled back)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from core import events
from core.clock import utcnow
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


def _client_facts(client: ClientInfo | None) -> dict[str, str]:
    return {
        "ip": (client.ip if client else "") or "unknown",
        "browser": (client.user_agent if client else "") or "unknown",
    }


def _email_code(
    _sender: Any,
    *,
    db: Session,
    user_id: int,
    to: str,
    code: str,
    purpose: str,
    valid_minutes: int,
    client: ClientInfo | None = None,
    **_: Any,
) -> None:
    enqueue(
        db,
        to=to,
        template="email_code",
        kind=f"email_code_{purpose}",
        user_id=user_id,
        # The code is how an address gets proven: the one mail an unproven address gets.
        verification=True,
        context={
            "code": code,
            "purpose": purpose,
            "purpose_text": PURPOSE_TEXT.get(purpose, purpose),
            "valid_minutes": valid_minutes,
            **_client_facts(client),
        },
    )


def _backup_code(_sender: Any, *, db: Session, user_id: int, to: str, code: str, **_: Any) -> None:
    enqueue(
        db,
        to=to,
        template="backup_code",
        kind="backup_code",
        user_id=user_id,
        context={"code": code},
    )


def _regenerated(
    _sender: Any,
    *,
    db: Session,
    user_id: int,
    to: str,
    client: ClientInfo | None = None,
    **_: Any,
) -> None:
    enqueue(
        db,
        to=to,
        template="backup_regenerated",
        kind="backup_regenerated",
        user_id=user_id,
        context=_client_facts(client),
    )


def _reissued(
    _sender: Any, *, db: Session, user_id: int, to: str, delivered: str, **_: Any
) -> None:
    enqueue(
        db,
        to=to,
        template="backup_reissued",
        kind="backup_reissued",
        user_id=user_id,
        context={"delivered": delivered},
    )


def _recovered(mode: str) -> Any:
    def send(
        _sender: Any,
        *,
        db: Session,
        user_id: int,
        device_id: int,
        to: str,
        device_name: str,
        at: str,
        removed_devices: list[str],
        client: ClientInfo | None = None,
        **_: Any,
    ) -> None:
        device = db.get(Device, device_id)
        token = create_block_link(db, device, utcnow()) if device is not None else None
        block_url = f"{current_app.config['ORIGIN']}/block/{token}" if token else None
        enqueue(
            db,
            to=to,
            template="device_recovered",
            kind=f"device_{mode}",
            user_id=user_id,
            context={
                "mode": mode,
                "device_name": device_name,
                "at": at,
                "removed_devices": removed_devices,
                "block_url": block_url,
                **_client_facts(client),
            },
        )

    return send


def _email_changed(
    _sender: Any,
    *,
    db: Session,
    user_id: int,
    to: str | None,
    new_address: str,
    client: ClientInfo | None = None,
    **_: Any,
) -> None:
    """Every device is told in-app; the old address by mail, if it was ever proven (``to``)."""
    announce(
        db,
        "email_changed",
        user_id=user_id,
        subject_device_id=None,
        device_name="",
        client=client,
        now=utcnow(),
        mail=False,
    )
    if to:
        enqueue(
            db,
            to=to,
            template="email_changed",
            kind="email_changed",
            user_id=user_id,
            # No longer the ID's address, but it was proven until a moment ago: told once.
            verification=True,
            context={"new_address": new_address, **_client_facts(client)},
        )


def _user_deleted(
    _sender: Any,
    *,
    db: Session,
    user_id: int,
    to: str | None,
    username: str,
    client: ClientInfo | None = None,
    **_: Any,
) -> None:
    # Queued before the ID's row loses the address: ``to`` travels in the event.
    if not to:
        return
    enqueue(
        db,
        to=to,
        template="user_deleted",
        kind="user_deleted",
        user_id=user_id,
        context={
            "username": username,
            "at": utcnow().strftime("%Y-%m-%d %H:%M UTC"),
            **_client_facts(client),
        },
    )


_SUBSCRIPTIONS = [
    (events.email_code_issued, _email_code),
    (events.backup_code_delivered, _backup_code),
    (events.backup_code_regenerated, _regenerated),
    (events.backup_code_reissued, _reissued),
    (events.device_restored, _recovered("restored")),
    (events.device_duplicated, _recovered("duplicated")),
    (events.email_changed, _email_changed),
    (events.user_deleted, _user_deleted),
]


def connect() -> None:
    """Idempotent: blinker keeps one connection per (signal, receiver)."""
    for signal, receiver in _SUBSCRIPTIONS:
        signal.connect(receiver, weak=False)
