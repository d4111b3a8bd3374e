"""Pairing a new device by QR code ("one click, two step").

1. A signed-in device (fresh user verification) creates a pairing: a token (≥128 bits, only
   its hash stored), shown as a QR code of ``/pair/<token>``.
2. The first browser that begins redeeming it owns it (a conditional UPDATE decides a race);
   it names itself and creates a passkey for the ID, stored as a *pending* device that cannot
   sign in. Both sides show the same 2-digit confirmation number.
3. A signed-in device of the ID (fresh user verification, not the redeeming browser) approves
   (the device becomes active, every other device is told) or rejects (the passkey is deleted).
   Approving needs the number the new device shows, typed on the approving device: the ID's
   sessions are never told it, so approving proves the person sees the device being added.
   After 3 wrong numbers the pairing is rejected.
4. The redeeming browser, polling the status, receives its session once, with "approved".
Expired pairings delete their pending passkey. At most 3 pending pairings per ID.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.db import UTCDateTime
from core.errors import (
    InvalidInput,
    NotFound,
    PairingRejected,
    RegistrationFailed,
    TooManyPairings,
    WrongConfirmation,
)
from core.models import User
from core.security import ClientInfo, new_token, token_hash
from recovery.models import Pairing, RecoveryFailure
from webauthn import challenges, devices
from webauthn.models import Device
from webauthn.settings import Settings, require_fresh
from webauthn.signin import start_session

WAITING, AWAITING, APPROVED, REJECTED, EXPIRED = (
    "waiting",
    "awaiting_approval",
    "approved",
    "rejected",
    "expired",
)
PENDING_STATES = (WAITING, AWAITING)
MAX_PENDING = 3
MAX_WRONG_CONFIRMATIONS = 3
_CONFIRMATION = re.compile(r"[0-9]{1,2}")


@dataclass(frozen=True)
class PairingView:
    body: dict[str, Any]
    session_token: str | None = None  # set once, for the redeeming browser, on approval


def qr_svg(url: str) -> str:
    """The URL as an SVG QR code (no Pillow needed)."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def start(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User, origin: str, ttl: int
) -> dict[str, Any]:
    now = ctx.now
    require_fresh(ctx.login_session, settings, now)
    _expire_due(db, user_id=user.id, now=now)
    pending = db.execute(
        sa.select(sa.func.count(Pairing.id), sa.func.min(Pairing.expires_at)).where(
            Pairing.user_id == user.id, Pairing.status.in_(PENDING_STATES)
        )
    ).one()
    if pending[0] >= MAX_PENDING:
        # The true wait: until the oldest pending pairing expires (or one is finished).
        oldest_expiry = UTCDateTime().process_result_value(pending[1], None)
        raise TooManyPairings(max(1, math.ceil((oldest_expiry - now).total_seconds())))
    token = new_token(24)  # 192 bits
    expires_at = now + timedelta(seconds=ttl)
    db.add(
        Pairing(
            token_hash=token_hash(token),
            user_id=user.id,
            status=WAITING,
            created_at=now,
            expires_at=expires_at,
        )
    )
    db.flush()
    url = f"{origin}/pair/{token}"
    return {"token": token, "url": url, "qr_svg": qr_svg(url), "expires_at": expires_at.isoformat()}


def _expire_due(db: Session, *, user_id: int | None = None, now: datetime) -> None:
    """Pending pairings past their time expire, and their pending passkeys are deleted."""
    query = sa.select(Pairing).where(Pairing.status.in_(PENDING_STATES), Pairing.expires_at <= now)
    if user_id is not None:
        query = query.where(Pairing.user_id == user_id)
    for pairing in db.scalars(query):
        _close(db, pairing, EXPIRED, now)


def _close(db: Session, pairing: Pairing, status: str, now: datetime) -> None:
    pairing.status, pairing.decided_at = status, now
    if pairing.device_id is not None:
        device = db.get(Device, pairing.device_id)
        if device is not None and device.status == "pending":
            db.delete(device)
        pairing.device_id = None
    db.flush()


def _find(db: Session, token: str, now: datetime) -> Pairing:
    if not token or len(token) > 128:
        raise NotFound("No such pairing.")
    pairing = db.scalar(sa.select(Pairing).where(Pairing.token_hash == token_hash(token)))
    if pairing is None:
        raise NotFound("No such pairing.")
    if pairing.status in PENDING_STATES and now >= pairing.expires_at:
        _close(db, pairing, EXPIRED, now)
    return pairing


def _is_redeemer(pairing: Pairing, client: ClientInfo) -> bool:
    return pairing.redeemer_browser is not None and secrets.compare_digest(
        pairing.redeemer_browser, client.browser
    )


@dataclass(frozen=True)
class PageState:
    """What ``/pair/<token>`` shows on load: ``start`` (the form), ``waiting`` (this browser
    redeemed it and waits for approval), ``rejected`` or ``expired`` (this browser's pairing
    ended), or ``invalid`` (unknown, used, expired or another browser's: no form at all)."""

    phase: str
    confirmation: str | None = None


def page_state(db: Session, ctx: RequestContext, *, token: str) -> PageState:
    try:
        pairing = _find(db, token, ctx.now)
    except NotFound:
        return PageState("invalid")
    redeemer = _is_redeemer(pairing, ctx.client)
    if pairing.status == WAITING and (pairing.redeemer_browser is None or redeemer):
        return PageState("start")
    if not redeemer:
        return PageState("invalid")
    if pairing.status == AWAITING or (
        pairing.status == APPROVED and pairing.session_issued_at is None
    ):
        return PageState("waiting", pairing.confirmation)
    if pairing.status in (REJECTED, EXPIRED):
        return PageState(pairing.status)
    return PageState("invalid")


def begin_redeem(
    db: Session, settings: Settings, ctx: RequestContext, *, token: str, device_name: str | None
) -> dict[str, Any]:
    client = ctx.client
    pairing = _find(db, token, ctx.now)
    if pairing.status != WAITING:
        raise NotFound("This pairing code is no longer valid.")
    if not _is_redeemer(pairing, client):
        # The first browser to open it owns it: a conditional UPDATE decides a race.
        won = db.execute(
            sa.update(Pairing)
            .where(Pairing.id == pairing.id, Pairing.redeemer_browser.is_(None))
            .values(
                redeemer_browser=client.browser,
                redeemer_ip=client.ip[:64],
                redeemer_user_agent=client.user_agent[:512],
                confirmation=f"{secrets.randbelow(100):02d}",
            )
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:
            raise NotFound("This pairing code is no longer valid.")
        db.refresh(pairing)
    user = db.get(User, pairing.user_id)
    assert user is not None
    options = devices.begin_add_device(
        db, settings, ctx, user=user, device_name=device_name, purpose=challenges.PAIR
    )
    return {**options, "confirmation": pairing.confirmation}


def complete_redeem(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    raw: Mapping[str, Any],
    *,
    token: str,
    device_name: str | None,
) -> dict[str, Any]:
    pairing = _find(db, token, ctx.now)
    if pairing.status != WAITING or not _is_redeemer(pairing, ctx.client):
        raise NotFound("This pairing code is no longer valid.")
    user = db.get(User, pairing.user_id)
    assert user is not None
    device = devices.complete_add_device(
        db, settings, ctx, raw, user=user, device_name=device_name, purpose=challenges.PAIR
    )
    device.status = "pending"
    moved = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status == WAITING)
        .values(status=AWAITING, device_id=device.id)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise RegistrationFailed(detail="pairing no longer waiting")
    return {"status": AWAITING}


def _device_json(db: Session, pairing: Pairing) -> dict[str, Any] | None:
    if pairing.device_id is None:
        return None
    device = db.get(Device, pairing.device_id)
    if device is None:
        return None
    return {
        **devices.device_json(device, None),
        "ip": pairing.redeemer_ip,
        "user_agent": pairing.redeemer_user_agent,
    }


def view(
    db: Session, settings: Settings, ctx: RequestContext, *, token: str, viewer: User | None
) -> PairingView:
    """The pairing's state, for the ID's signed-in sessions and the redeeming browser only
    (404 for anyone else). The redeeming browser gets its session once it is approved."""
    pairing = _find(db, token, ctx.now)
    is_owner = viewer is not None and viewer.id == pairing.user_id
    redeemer = _is_redeemer(pairing, ctx.client)
    if not (is_owner or redeemer):
        raise NotFound("No such pairing.")
    body = {
        "status": pairing.status,
        "device": _device_json(db, pairing),
        # Only the new device shows the number; the approving side must type what it sees.
        "confirmation": pairing.confirmation if redeemer else None,
        "expires_at": pairing.expires_at.isoformat(),
    }
    if not (redeemer and pairing.status == APPROVED and pairing.device_id is not None):
        return PairingView(body)
    issued = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.session_issued_at.is_(None))
        .values(session_issued_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if issued.rowcount != 1:
        return PairingView(body)
    # Not fresh: a newly paired device verifies its user (a step-up) before it may block,
    # unpair or approve anything.
    token = start_session(
        db, settings, ctx, user_id=pairing.user_id, device_id=pairing.device_id, verified=False
    )
    return PairingView(body, token)


def _confirmation_subject(pairing: Pairing) -> bytes:
    # From the token's hash, not the row id: ids of deleted rows may come back in SQLite.
    return hashlib.sha256(b"pairing-confirmation:" + pairing.token_hash).digest()


def _check_confirmation(db: Session, pairing: Pairing, typed: str | None, now: datetime) -> None:
    """The number typed on the approving device against the one the new device shows,
    compared in constant time. A wrong one is counted; the last allowed rejects the pairing
    (its pending passkey deleted). Malformed input is refused without counting."""
    cleaned = (typed or "").strip()
    if not _CONFIRMATION.fullmatch(cleaned):
        raise InvalidInput("'confirmation' must be the 2-digit number the new device shows.")
    expected = (pairing.confirmation or "").encode()
    if expected and hmac.compare_digest(cleaned.zfill(2).encode(), expected):
        return
    subject = _confirmation_subject(pairing)
    db.add(RecoveryFailure(subject=subject, step="pairing_number", created_at=now))
    db.flush()
    wrong = db.scalar(
        sa.select(sa.func.count(RecoveryFailure.id)).where(RecoveryFailure.subject == subject)
    )
    if (wrong or 0) < MAX_WRONG_CONFIRMATIONS:
        raise WrongConfirmation(detail="wrong pairing number", keep_changes=True)
    rejected = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status == AWAITING)
        .values(status=REJECTED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if rejected.rowcount == 1:
        db.refresh(pairing)
        _close(db, pairing, REJECTED, now)
    raise PairingRejected(detail="too many wrong pairing numbers", keep_changes=True)


def decide(
    db: Session,
    settings: Settings,
    ctx: RequestContext,
    *,
    token: str,
    approve: bool,
    confirmation: str | None = None,
    user: User,
) -> dict[str, Any]:
    """Approve or reject, from a signed-in device of the ID with a fresh user verification;
    never from the redeeming browser itself."""
    now = ctx.now
    pairing = _find(db, token, now)
    if pairing.user_id != user.id or _is_redeemer(pairing, ctx.client):
        raise NotFound("No such pairing.")
    # Approve needs the new device's passkey; reject also cancels a pairing nobody redeemed.
    allowed = (AWAITING,) if approve else PENDING_STATES
    if pairing.status not in allowed:
        raise NotFound("This pairing is not waiting for approval.")
    if approve:
        require_fresh(ctx.login_session, settings, now)
        _check_confirmation(db, pairing, confirmation, now)
    decided = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status.in_(allowed))
        .values(status=APPROVED if approve else REJECTED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if decided.rowcount != 1:
        raise NotFound("This pairing is not waiting for approval.")
    db.refresh(pairing)
    if not approve:
        _close(db, pairing, REJECTED, now)
        return {"status": REJECTED}
    device = db.get(Device, pairing.device_id) if pairing.device_id else None
    # Only the passkey still waiting: one removed (or blocked) meanwhile is never revived.
    if device is None or device.status != "pending":
        raise NotFound("No such pairing.")
    device.status = "active"
    db.flush()
    events.emit(
        db,
        events.DevicePaired(
            # Told as the new device's doing (its browser), approved from this one.
            ctx=replace(
                ctx,
                client=ClientInfo(
                    ip=pairing.redeemer_ip, user_agent=pairing.redeemer_user_agent, browser=b""
                ),
            ),
            user_id=user.id,
            device_id=device.id,
            device_name=device.name,
            approved_from=ctx.client.user_agent,
        ),
    )
    return {"status": APPROVED, "device": devices.device_json(device, None)}
