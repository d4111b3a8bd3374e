"""Every device is told: when a device is added, restored, duplicated, paired, blocked,
removed or flagged, or signs in from a browser it never used, each other active device of the
ID gets a notification (its inbox, the live view, the next sign-in) and the ID's address gets
a mail with a one-click "This wasn't me — block it" link. The first sign-in to a website is
told the same way, naming the website and where it lives (nothing to block: the owner
disconnects it from the account page).

Everything is written in the event's transaction: nothing is announced for a change that
rolled back, and nothing is lost when SMTP is down (the mail waits in the outbox).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from core import events, policy
from core.context import RequestContext
from core.models import AuditEvent, User
from core.orm import rowcount
from core.security import keyed_hash, new_token, token_hash
from notify.errors import BlockLinkInvalid, NotificationNotFound
from notify.models import BlockLink, Notification
from notify.notices import ADMINISTRATOR, headline
from notify.outbox import enqueue
from webauthn import devices
from webauthn.aaguids import device_model_name
from webauthn.models import Device, DeviceStatus

# Kinds whose mail carries a block link: a device that may not be the owner's got access.
BLOCKABLE = frozenset(
    {
        "device_added",
        "device_restored",
        "device_duplicated",
        "device_paired",
        "device_flagged",
        "device_unblocked",
        "new_device_sign_in",
    }
)


@dataclass(frozen=True)
class Website:
    """The website a notice is about, as it was named when it happened."""

    name: str
    origin: str


# ---- writing -------------------------------------------------------------------------------


def announce(
    db: Session,
    ctx: RequestContext,
    kind: str,
    *,
    user_id: int,
    subject_device_id: int | None,
    device_name: str,
    mail: bool = True,
    website: Website | None = None,
    by_administrator: bool = False,
) -> None:
    """Tells every other active device of the ID about ``kind`` (who: ``ctx.client``, when:
    ``ctx.now``) and, with ``mail``, the ID's confirmed address. ``website``: the website the
    news is about, if any. ``by_administrator``: an administrator did it; the notice says so
    and does not show the administrator's IP address or browser."""
    user = db.get(User, user_id)
    if user is None:
        return
    client, now = ctx.client, ctx.now
    # Every other active device: not the one the news is about, and not the one that acted
    # (it knows what it just did).
    not_told = {subject_device_id, client.device_id} - {None}
    recipients = db.scalars(
        sa.select(Device.id).where(
            Device.user_id == user_id,
            Device.status == DeviceStatus.ACTIVE,
            Device.id.not_in(not_told),
        )
    ).all()
    subject = db.get(Device, subject_device_id) if subject_device_id else None
    data: dict[str, Any] = {
        "device_name": device_name,
        "authenticator": device_model_name(subject) if subject else None,
    }
    if website is not None:
        data["website"] = {"name": website.name, "origin": website.origin}
    if by_administrator:
        data[ADMINISTRATOR] = True
    ip, user_agent = ("", "") if by_administrator else (client.ip[:64], client.user_agent[:512])
    for recipient in recipients:
        db.add(
            Notification(
                user_id=user_id,
                device_id=recipient,
                kind=kind,
                subject_device_id=subject_device_id,
                data=data,
                ip=ip,
                user_agent=user_agent,
                created_at=now,
            )
        )
    # An address nobody proved reading gets verification mail only: the notice stays in-app.
    if not mail or user.email_verified_at is None:
        return
    block_url = None
    if kind in BLOCKABLE and subject is not None and subject.status != DeviceStatus.BLOCKED:
        block_url = f"{current_app.config['ORIGIN']}/block/{create_block_link(db, subject, now)}"
    enqueue(
        db,
        now,
        to=user.email,
        template="device_notice",
        kind=f"notice_{kind}",
        user_id=user_id,
        context={
            "kind": kind,
            "headline": headline(kind, data),
            "by_administrator": by_administrator,
            "device_name": device_name,
            "at": now.strftime("%Y-%m-%d %H:%M UTC"),
            "ip": ip or "unknown",
            "browser": user_agent or "unknown",
            "block_url": block_url,
            # The mail's own ``origin`` is Keystead's (for its links).
            "website": website.name if website else None,
            "website_origin": website.origin if website else None,
        },
    )


def create_block_link(db: Session, device: Device, now: datetime) -> str:
    token = new_token(24)  # 192 bits
    db.add(
        BlockLink(
            token_hash=token_hash(token),
            user_id=device.user_id,
            device_id=device.id,
            created_at=now,
            expires_at=now + timedelta(seconds=policy.current()["BLOCK_LINK_TTL"]),
        )
    )
    return token


# ---- event subscribers ---------------------------------------------------------------------


def _told(*, mail: bool = True) -> Callable[[Session, events.DeviceEvent], None]:
    """A subscriber that tells the ID's other devices of a device event, named as the event
    (and mails the address, with ``mail``)."""

    def receive(db: Session, event: events.DeviceEvent) -> None:
        if event.user_id is None:
            return
        # The device an ID is created with has nobody to tell; devices removed by a restore
        # are named in the restore's own notice.
        if isinstance(event, events.DeviceAdded) and event.first_device:
            return
        if isinstance(event, events.DeviceRemoved) and event.reason == "restore":
            return
        announce(
            db,
            event.ctx,
            event.name,
            user_id=event.user_id,
            subject_device_id=event.device_id,
            device_name=event.device_name,
            mail=mail,
            by_administrator=getattr(event, "actor_user_id", None) is not None,
        )

    return receive


def _on_sign_in(db: Session, event: events.SignedIn) -> None:
    if event.new_browser and event.user_id is not None:
        announce(
            db,
            event.ctx,
            "new_device_sign_in",
            user_id=event.user_id,
            subject_device_id=event.device_id,
            device_name=event.device_name,
        )


def _on_website_connected(db: Session, event: events.WebsiteConnected) -> None:
    """The first sign-in to a website: the devices that did not do it, and the address."""
    if event.user_id is None:
        return
    announce(
        db,
        event.ctx,
        "website_connected",
        user_id=event.user_id,
        subject_device_id=None,
        device_name="",
        website=Website(name=event.client_name, origin=event.origin),
    )


def _on_administrator_change(
    db: Session,
    event: events.SessionsEndedByAdmin
    | events.UserDeactivated
    | events.UserReactivated
    | events.BackupCodeReissued,
) -> None:
    """An administrator's change to the ID as a whole (the admin panel's or the command
    line's): every device, and the address, except a re-issued code, whose own mail
    (notify/mails.py) tells the address."""
    if event.user_id is None:
        return
    announce(
        db,
        event.ctx,
        event.name,
        user_id=event.user_id,
        subject_device_id=None,
        device_name="",
        mail=not isinstance(event, events.BackupCodeReissued),
        by_administrator=True,
    )


def _forget_user(db: Session, event: events.UserDeleted) -> None:
    """A deleted ID's inboxes (who did what, from which IP and browser) and block links go:
    its devices are removed, nobody can read or use them any more."""
    db.execute(sa.delete(Notification).where(Notification.user_id == event.user_id))
    db.execute(sa.delete(BlockLink).where(BlockLink.user_id == event.user_id))


_TOLD: list[tuple[type[events.DeviceEvent], bool]] = [
    (events.DeviceAdded, True),
    # Restore and duplicate already mail the address with their own notice (notify.mails).
    (events.DeviceRestored, False),
    (events.DeviceDuplicated, False),
    (events.DevicePaired, True),
    (events.DeviceBlocked, True),
    (events.DeviceUnblocked, True),
    (events.DeviceRemoved, True),
    (events.DeviceFlagged, True),
]
_TELL, _TELL_IN_APP = _told(), _told(mail=False)


def connect() -> None:
    """Idempotent: ``events.subscribe`` keeps one subscription per (event, handler)."""
    for event_type, mail in _TOLD:
        events.subscribe(event_type, _TELL if mail else _TELL_IN_APP)
    events.subscribe(events.SignedIn, _on_sign_in)
    events.subscribe(events.WebsiteConnected, _on_website_connected)
    events.subscribe(events.UserDeleted, _forget_user)
    events.subscribe(events.SessionsEndedByAdmin, _on_administrator_change)
    events.subscribe(events.UserDeactivated, _on_administrator_change)
    events.subscribe(events.UserReactivated, _on_administrator_change)
    events.subscribe(events.BackupCodeReissued, _on_administrator_change)


# ---- reading -------------------------------------------------------------------------------

# What a notification says of a device that was removed since.
GONE = "gone"


def notification_json(db: Session, notification: Notification) -> dict[str, Any]:
    subject = (
        db.get(Device, notification.subject_device_id) if notification.subject_device_id else None
    )
    if subject is not None and subject.user_id != notification.user_id:
        subject = None  # never another ID's device, whatever the id says
    device = {
        "id": notification.subject_device_id,
        "name": notification.data.get("device_name", ""),
        "authenticator": notification.data.get("authenticator"),
        # The device's status now (it may have been blocked since): "gone" once removed.
        "status": subject.status if subject and subject.status != DeviceStatus.REMOVED else GONE,
    }
    return {
        "id": notification.id,
        "kind": notification.kind,
        "title": headline(notification.kind, notification.data),
        "by_administrator": bool(notification.data.get(ADMINISTRATOR)),
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
        "device": device,
        # The website a notice is about (``website_connected``), else None.
        "website": notification.data.get("website"),
        "ip": notification.ip,
        "user_agent": notification.user_agent,
    }


def for_device(
    db: Session,
    *,
    user: User,
    device_id: int | None,
    since: int = 0,
    unread_only: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    if device_id is None:
        return []
    query = sa.select(Notification).where(
        Notification.user_id == user.id,
        Notification.device_id == device_id,
        Notification.id > since,
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = db.scalars(query.order_by(Notification.id.desc()).limit(limit)).all()
    return [notification_json(db, n) for n in rows]


def mark_read(db: Session, ctx: RequestContext, *, user: User, notification_id: int) -> None:
    """Marks one of the calling device's notifications read."""
    notification = db.scalar(
        sa.select(Notification).where(
            Notification.id == notification_id,
            Notification.user_id == user.id,
            Notification.device_id == (ctx.client.device_id or -1),
        )
    )
    if notification is None:
        raise NotificationNotFound()
    if notification.read_at is None:
        notification.read_at = ctx.now


def unread_count(db: Session, *, user: User, device_id: int | None) -> int:
    if device_id is None:
        return 0
    return int(
        db.scalar(
            sa.select(sa.func.count(Notification.id)).where(
                Notification.user_id == user.id,
                Notification.device_id == device_id,
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def mark_all_read(db: Session, ctx: RequestContext, *, user: User) -> int:
    """Marks every notification of the calling device read; returns how many were unread."""
    device_id = ctx.client.device_id
    if device_id is None:
        return 0
    result = db.execute(
        sa.update(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.device_id == device_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


_HIDDEN_DATA = frozenset({"to", "credential_id"})


def activity(db: Session, *, user: User, limit: int = 200) -> list[dict[str, Any]]:
    """The ID's audit trail, newest first."""
    rows = db.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.user_id == user.id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "created_at": row.created_at.isoformat(),
            "device_id": row.device_id,
            "device_name": (row.data or {}).get("device_name"),
            "ip": row.ip,
            "user_agent": row.user_agent,
            "details": {
                k: v
                for k, v in (row.data or {}).items()
                if k not in _HIDDEN_DATA and k != "device_name"
            },
        }
        for row in rows
    ]


# ---- block links ---------------------------------------------------------------------------


def _unexpired_link(db: Session, token: str, now: datetime) -> BlockLink | None:
    """The link behind ``token`` while it has not expired, used or not."""
    if not token or len(token) > 128:
        return None
    link = db.scalar(sa.select(BlockLink).where(BlockLink.token_hash == token_hash(token)))
    if link is None or now >= link.expires_at:
        return None
    return link


def _live_link(db: Session, token: str, now: datetime) -> BlockLink | None:
    link = _unexpired_link(db, token, now)
    return link if link is not None and link.used_at is None else None


def block_link_device(db: Session, ctx: RequestContext, token: str) -> Device:
    """The device an unexpired link is about (for the confirmation page): a live link's, or a
    used link's while its device is blocked, so the page can say "already blocked" (the mail's
    promise). NotFound for anything else: unknown, expired, or used on a device no longer
    blocked (removed, or unblocked by an administrator)."""
    link = _unexpired_link(db, token, ctx.now)
    device = db.get(Device, link.device_id) if link else None
    if link is None or device is None:
        raise BlockLinkInvalid()
    if link.used_at is not None and device.status != DeviceStatus.BLOCKED:
        raise BlockLinkInvalid()
    return device


def form_token(secret_key: str, token: str) -> str:
    """The confirmation form's CSRF token: derived from the link, so it needs no storage and
    cannot be made without the link itself."""
    return keyed_hash(secret_key, "block-form", token).hex()


def block_by_link(
    db: Session, ctx: RequestContext, *, secret_key: str, token: str, form: str
) -> tuple[Device, bool]:
    """Blocks the link's device. Returns (device, newly_blocked). The link is used up in one
    conditional UPDATE: of two clicks, one does the work."""
    link = _unexpired_link(db, token, ctx.now)
    if link is None or not hmac.compare_digest(form, form_token(secret_key, token)):
        raise BlockLinkInvalid()
    if link.used_at is not None:
        # A second click on the same form: say it is done, if it still is.
        done = db.get(Device, link.device_id)
        if done is None or done.status != DeviceStatus.BLOCKED:
            raise BlockLinkInvalid()
        return done, False
    used = db.execute(
        sa.update(BlockLink)
        .where(BlockLink.id == link.id, BlockLink.used_at.is_(None))
        .values(used_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    device = db.get(Device, link.device_id)
    if rowcount(used) != 1 or device is None:
        raise BlockLinkInvalid()
    return device, devices.block(db, ctx, device, via="email")
