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
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.errors import InvalidInput, NotFound
from core.models import User
from core.orm import UTCDateTime, rowcount
from core.security import ClientInfo, new_token, token_hash
from core.users import TextRule
from recovery.errors import (
    PairingNotFound,
    PairingRejected,
    TooManyPairings,
    WrongConfirmation,
)
from recovery.models import FailureStep, Pairing, PairingStatus, RecoveryFailure
from webauthn import devices
from webauthn.errors import RegistrationFailed
from webauthn.models import ChallengePurpose, Device, DeviceStatus
from webauthn.settings import Settings, require_fresh
from webauthn.signin import start_session

PENDING_STATES = (PairingStatus.WAITING, PairingStatus.AWAITING_APPROVAL)
MAX_PENDING = 3
MAX_WRONG_CONFIRMATIONS = 3
# The number typed on the approving device (a leading 0 may be left out).
CONFIRMATION = TextRule(min_length=1, max_length=2, characters="[0-9]")


@dataclass(frozen=True)
class PairingView:
    """A pairing's state, as one of the ID's sessions or the redeeming browser sees it."""

    status: str
    device: Device | None  # the new device, once it made its passkey
    redeemer_ip: str
    redeemer_user_agent: str
    confirmation: str | None  # only the new device shows the number
    expires_at: datetime
    session_token: str | None = None  # set once, for the redeeming browser, on approval


@dataclass(frozen=True)
class NewPairing:
    """A pairing just created: the token (shown once, only its hash is stored), the URL the new
    device opens (the edge draws it as a QR code) and when it expires."""

    token: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Decision:
    status: PairingStatus  # APPROVED or REJECTED
    device: Device | None = None  # the approved device


def start(
    db: Session, settings: Settings, ctx: RequestContext, *, user: User, origin: str, ttl: int
) -> NewPairing:
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
        assert oldest_expiry is not None  # noqa: S101 - MIN over MAX_PENDING > 0 rows
        raise TooManyPairings(max(1, math.ceil((oldest_expiry - now).total_seconds())))
    token = new_token(24)  # 192 bits
    expires_at = now + timedelta(seconds=ttl)
    db.add(
        Pairing(
            token_hash=token_hash(token),
            user_id=user.id,
            status=PairingStatus.WAITING,
            created_at=now,
            expires_at=expires_at,
        )
    )
    db.flush()
    return NewPairing(token, f"{origin}/pair/{token}", expires_at)


def _expire_due(db: Session, *, user_id: int | None = None, now: datetime) -> None:
    """Pending pairings past their time expire, and their pending passkeys are deleted."""
    query = sa.select(Pairing).where(Pairing.status.in_(PENDING_STATES), Pairing.expires_at <= now)
    if user_id is not None:
        query = query.where(Pairing.user_id == user_id)
    for pairing in db.scalars(query):
        _close(db, pairing, PairingStatus.EXPIRED, now)


def reject_pending(db: Session, user_id: int, now: datetime) -> None:
    """Every pending pairing of ``user_id`` is refused (the ID was deactivated) and its pending
    passkey deleted."""
    query = sa.select(Pairing).where(Pairing.user_id == user_id, Pairing.status.in_(PENDING_STATES))
    for pairing in db.scalars(query):
        _close(db, pairing, PairingStatus.REJECTED, now)


def _close(db: Session, pairing: Pairing, status: PairingStatus, now: datetime) -> None:
    pairing.status, pairing.decided_at = status, now
    if pairing.device_id is not None:
        device = db.get(Device, pairing.device_id)
        if device is not None and device.status == DeviceStatus.PENDING:
            db.delete(device)
        pairing.device_id = None
    db.flush()


def _find(db: Session, token: str, now: datetime) -> Pairing:
    if not token or len(token) > 128:
        raise PairingNotFound()
    pairing = db.scalar(sa.select(Pairing).where(Pairing.token_hash == token_hash(token)))
    if pairing is None:
        raise PairingNotFound()
    if pairing.status in PENDING_STATES and now >= pairing.expires_at:
        _close(db, pairing, PairingStatus.EXPIRED, now)
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
    except PairingNotFound:
        return PageState("invalid")
    redeemer = _is_redeemer(pairing, ctx.client)
    if pairing.status == PairingStatus.WAITING and (pairing.redeemer_browser is None or redeemer):
        return PageState("start")
    if not redeemer:
        return PageState("invalid")
    if pairing.status == PairingStatus.AWAITING_APPROVAL or (
        pairing.status == PairingStatus.APPROVED and pairing.session_issued_at is None
    ):
        return PageState("waiting", pairing.confirmation)
    if pairing.status in (PairingStatus.REJECTED, PairingStatus.EXPIRED):
        return PageState(pairing.status)
    return PageState("invalid")


def begin_redeem(
    db: Session, settings: Settings, ctx: RequestContext, *, token: str, device_name: str | None
) -> dict[str, Any]:
    client = ctx.client
    pairing = _find(db, token, ctx.now)
    if pairing.status != PairingStatus.WAITING:
        raise PairingNotFound()
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
        if rowcount(won) != 1:
            raise PairingNotFound()
        db.refresh(pairing)
    user = db.get(User, pairing.user_id)
    assert user is not None
    options = devices.begin_add_device(
        db,
        settings,
        ctx,
        user=user,
        device_name=device_name,
        purpose=ChallengePurpose.PAIR,
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
    if pairing.status != PairingStatus.WAITING or not _is_redeemer(pairing, ctx.client):
        raise PairingNotFound()
    user = db.get(User, pairing.user_id)
    assert user is not None
    device = devices.complete_add_device(
        db,
        settings,
        ctx,
        raw,
        user=user,
        device_name=device_name,
        purpose=ChallengePurpose.PAIR,
    )
    device.status = DeviceStatus.PENDING
    moved = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status == PairingStatus.WAITING)
        .values(status=PairingStatus.AWAITING_APPROVAL, device_id=device.id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise RegistrationFailed(detail="pairing no longer waiting")
    return {"status": PairingStatus.AWAITING_APPROVAL}


def _new_device(db: Session, pairing: Pairing) -> Device | None:
    return db.get(Device, pairing.device_id) if pairing.device_id is not None else None


def view(
    db: Session, settings: Settings, ctx: RequestContext, *, token: str, viewer: User | None
) -> PairingView:
    """The pairing's state, for the ID's signed-in sessions and the redeeming browser only
    (404 for anyone else). The redeeming browser gets its session once it is approved."""
    pairing = _find(db, token, ctx.now)
    is_owner = viewer is not None and viewer.id == pairing.user_id
    redeemer = _is_redeemer(pairing, ctx.client)
    if not (is_owner or redeemer):
        raise PairingNotFound()
    state = PairingView(
        status=pairing.status,
        device=_new_device(db, pairing),
        redeemer_ip=pairing.redeemer_ip,
        redeemer_user_agent=pairing.redeemer_user_agent,
        # Only the new device shows the number; the approving side must type what it sees.
        confirmation=pairing.confirmation if redeemer else None,
        expires_at=pairing.expires_at,
    )
    if not (
        redeemer and pairing.status == PairingStatus.APPROVED and pairing.device_id is not None
    ):
        return state
    issued = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.session_issued_at.is_(None))
        .values(session_issued_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(issued) != 1:
        return state
    # Not fresh: a newly paired device verifies its user (a step-up) before it may block,
    # unpair or approve anything.
    token = start_session(
        db, settings, ctx, user_id=pairing.user_id, device_id=pairing.device_id, verified=False
    )
    return replace(state, session_token=token)


def check_confirmation(typed: str) -> str:
    """A typed confirmation number, trimmed; malformed input is refused (and never counted)."""
    cleaned = typed.strip()
    if not CONFIRMATION.matches(cleaned):
        raise InvalidInput("'confirmation' must be the 2-digit number the new device shows.")
    return cleaned


def _confirmation_subject(pairing: Pairing) -> bytes:
    # From the token's hash, not the row id: ids of deleted rows may come back in SQLite.
    return hashlib.sha256(b"pairing-confirmation:" + pairing.token_hash).digest()


def _check_confirmation(db: Session, pairing: Pairing, typed: str | None, now: datetime) -> None:
    """The number typed on the approving device against the one the new device shows,
    compared in constant time. A wrong one is counted; the last allowed rejects the pairing
    (its pending passkey deleted). Malformed input is refused without counting."""
    cleaned = check_confirmation(typed or "")
    expected = (pairing.confirmation or "").encode()
    if expected and hmac.compare_digest(cleaned.zfill(2).encode(), expected):
        return
    subject = _confirmation_subject(pairing)
    db.add(RecoveryFailure(subject=subject, step=FailureStep.PAIRING_NUMBER, created_at=now))
    db.flush()
    wrong = db.scalar(
        sa.select(sa.func.count(RecoveryFailure.id)).where(RecoveryFailure.subject == subject)
    )
    if (wrong or 0) < MAX_WRONG_CONFIRMATIONS:
        raise WrongConfirmation(detail="wrong pairing number", keep_changes=True)
    rejected = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status == PairingStatus.AWAITING_APPROVAL)
        .values(status=PairingStatus.REJECTED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(rejected) == 1:
        db.refresh(pairing)
        _close(db, pairing, PairingStatus.REJECTED, now)
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
) -> Decision:
    """Approve or reject, from a signed-in device of the ID with a fresh user verification;
    never from the redeeming browser itself."""
    now = ctx.now
    pairing = _find(db, token, now)
    if pairing.user_id != user.id or _is_redeemer(pairing, ctx.client):
        raise PairingNotFound()
    # Approve needs the new device's passkey; reject also cancels a pairing nobody redeemed.
    allowed = (PairingStatus.AWAITING_APPROVAL,) if approve else PENDING_STATES
    if pairing.status not in allowed:
        raise NotFound("This pairing is not waiting for approval.")
    if approve:
        require_fresh(ctx.login_session, settings, now)
        _check_confirmation(db, pairing, confirmation, now)
    decided = db.execute(
        sa.update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status.in_(allowed))
        .values(
            status=PairingStatus.APPROVED if approve else PairingStatus.REJECTED, decided_at=now
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(decided) != 1:
        raise NotFound("This pairing is not waiting for approval.")
    db.refresh(pairing)
    if not approve:
        _close(db, pairing, PairingStatus.REJECTED, now)
        return Decision(PairingStatus.REJECTED)
    device = db.get(Device, pairing.device_id) if pairing.device_id else None
    # Only the passkey still waiting: one removed (or blocked) meanwhile is never revived.
    if device is None or device.status != DeviceStatus.PENDING:
        raise PairingNotFound()
    device.status = DeviceStatus.ACTIVE
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
    return Decision(PairingStatus.APPROVED, device)
