"""Invitations to create an ID: made by an administrator (admin/) or the CLI, checked when a
sign-up begins, used up in the transaction that creates the ID.

They live here, below admin/, because sign-up must check them. A token is 256 random bits,
stored as its SHA-256 hash, shown once (the link, or the mail that carries it), expires, and is
used once: ``accept`` marks it used with one conditional UPDATE (``WHERE used_at IS NULL``
and not revoked, not expired) and checks the row count, so of two sign-ups racing with the
same link only one creates an ID. A sign-up's begin only looks (``find_valid``).

An invitation names an address (the new ID's), maybe a username (the sign-up must use it) and
maybe a role, kept as a plain name: this package knows no roles; admin/ validates the name when
inviting and grants it when it hears ``events.InvitationAccepted``. When the link was mailed,
the sign-up that uses it proves the address, which then counts as confirmed.

Unknown, expired, used and revoked tokens are refused alike (``InvitationInvalid``)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import User
from core.orm import rowcount
from core.security import new_token, token_hash
from core.users import TextRule, find_user, normalise_email, normalise_username, username_key
from webauthn.errors import (
    EmailInUse,
    InvitationInvalid,
    InvitationNotFound,
    InvitationRequired,
    InvitationUsed,
    RegistrationClosed,
    UsernameTaken,
)
from webauthn.models import Invitation, InvitationDelivery, InvitationStatus

# A role's name as stored (admin/ checks it is one of its roles).
ROLE = TextRule(min_length=1, max_length=16, characters=r"[a-z_]")
# Longer than any token we make (43 characters): anything past it is not one of ours.
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Created:
    """A new invitation, its token and link: shown once, never stored."""

    invitation: Invitation
    token: str
    url: str


def signup_url(origin: str, token: str) -> str:
    return f"{origin}/signup?invitation={token}"


def _live(now: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        Invitation.used_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    ]


def check_invitee(
    db: Session, now: datetime, *, email: str, username: str | None
) -> tuple[str, str | None]:
    """The address and username normalised, if an invitation may name them: neither may be an
    ID's already (``EmailInUse``, ``UsernameTaken``), nor the username one a pending
    invitation keeps for someone else."""
    email = normalise_email(email)
    taken = db.scalar(
        sa.select(User.id)
        .where(sa.func.lower(User.email) == email.lower(), User.deleted_at.is_(None))
        .limit(1)
    )
    if taken is not None:
        raise EmailInUse()
    if username is None:
        return email, None
    username = normalise_username(username)
    if find_user(db, username) is not None:
        raise UsernameTaken()
    reserved = db.scalar(
        sa.select(Invitation.id)
        .where(sa.func.lower(Invitation.username) == username_key(username), *_live(now))
        .limit(1)
    )
    if reserved is not None:
        raise UsernameTaken("A pending invitation names this username already.")
    return email, username


def create(
    db: Session,
    ctx: RequestContext,
    *,
    email: str,
    username: str | None,
    role: str | None,
    delivery: InvitationDelivery,
    ttl: int,
    origin: str,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> Created:
    """A new invitation valid for ``ttl`` seconds; with ``delivery`` email its link is mailed
    (``events.InvitationDelivered``), otherwise only the answer holds it. ``actor_user_id``
    (an administrator) or ``actor`` (the CLI) made it: audited."""
    now = ctx.now
    email, username = check_invitee(db, now, email=email, username=username)
    if role is not None and not ROLE.matches(role):
        raise InvalidInput("That is not a role.")
    token = new_token(32)
    invitation = Invitation(
        email=email,
        username=username,
        role=role,
        delivery=delivery,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        created_by_user_id=actor_user_id,
        created_by=actor,
    )
    db.add(invitation)
    db.flush()
    url = signup_url(origin, token)
    events.emit(
        db,
        events.InvitationCreated(
            ctx=ctx,
            user_id=None,
            invitation_id=invitation.id,
            role=role,
            delivery=delivery.value,
            actor_user_id=actor_user_id,
            actor=actor,
        ),
    )
    if delivery == InvitationDelivery.EMAIL:
        events.emit(
            db,
            events.InvitationDelivered(
                ctx=ctx,
                user_id=None,
                to=email,
                url=url,
                expires=invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
                username=username,
            ),
        )
    return Created(invitation, token, url)


def find_valid(db: Session, token: str | None, now: datetime) -> Invitation | None:
    """The pending invitation ``token`` opens, or None (unknown, expired, used, revoked)."""
    if not token:
        return None
    hashed = token_hash(token)
    invitation = db.scalar(sa.select(Invitation).where(Invitation.token_hash == hashed))
    if invitation is None or not hmac.compare_digest(invitation.token_hash, hashed):
        return None
    if invitation.status(now) != InvitationStatus.PENDING:
        return None
    return invitation


def require_valid(db: Session, token: str | None, now: datetime) -> Invitation:
    invitation = find_valid(db, token, now)
    if invitation is None:
        raise InvitationInvalid(detail="unknown, expired, used or revoked invitation")
    return invitation


def accept(db: Session, ctx: RequestContext, invitation_id: int, user: User) -> Invitation:
    """Uses the invitation up for the new ID ``user`` (flushed already), in the transaction
    that creates it: one conditional UPDATE, so a second sign-up with the same link finds
    nothing and fails (``InvitationInvalid``; its transaction rolls back). A mailed link
    proves the address."""
    now = ctx.now
    used = db.execute(
        sa.update(Invitation)
        .where(Invitation.id == invitation_id, *_live(now))
        .values(used_at=now, used_by_user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(used) != 1:
        raise InvitationInvalid(detail="invitation used, revoked or expired since the begin")
    invitation = db.scalars(
        sa.select(Invitation)
        .where(Invitation.id == invitation_id)
        .execution_options(populate_existing=True)
    ).one()
    if invitation.delivery == InvitationDelivery.EMAIL and user.email == invitation.email:
        user.email_verified_at = now
        events.emit(db, events.EmailVerified(ctx=ctx, user_id=user.id))
    events.emit(
        db,
        events.InvitationAccepted(
            ctx=ctx,
            user_id=user.id,
            invitation_id=invitation.id,
            role=invitation.role,
            actor_user_id=invitation.created_by_user_id,
            actor=invitation.created_by,
        ),
    )
    return invitation


def revoke(db: Session, ctx: RequestContext, invitation_id: int, *, actor_user_id: int) -> None:
    """Withdraws a pending (or expired) invitation: its link opens nothing any more. Nothing
    is recorded when it was revoked already; ``InvitationUsed`` when its ID exists (the one
    conditional UPDATE decides, also against a sign-up using it at the same moment)."""
    invitation = db.get(Invitation, invitation_id)
    if invitation is None:
        raise InvitationNotFound()
    if invitation.revoked_at is not None:
        return
    revoked = db.execute(
        sa.update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(revoked) != 1:
        raise InvitationUsed(detail="used (or revoked meanwhile)")
    events.emit(
        db,
        events.InvitationRevoked(
            ctx=ctx, user_id=None, invitation_id=invitation_id, actor_user_id=actor_user_id
        ),
    )


def list_invitations(db: Session) -> list[Invitation]:
    """Every invitation, newest first (their status: ``Invitation.status``)."""
    return list(
        db.scalars(
            sa.select(Invitation).order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


@dataclass(frozen=True)
class SignUpOffer:
    """What the sign-up page offers: ``refusal`` (the server's message) when no ID can be
    created from it, else the invitation's address and username to fill in, if it has one."""

    refusal: str | None = None
    email: str | None = None
    username: str | None = None


def sign_up_offer(db: Session, registration: str, token: str | None, now: datetime) -> SignUpOffer:
    """The sign-up page's state for REGISTRATION ``registration`` and the link's ``token``
    (the same rules as ``webauthn.signin.begin_registration``, checked again there)."""
    if token is not None:
        invitation = find_valid(db, token, now)
        if invitation is None:
            return SignUpOffer(refusal=InvitationInvalid.message)
        return SignUpOffer(email=invitation.email, username=invitation.username)
    if registration == "closed":
        return SignUpOffer(refusal=RegistrationClosed.message)
    if registration == "invite":
        return SignUpOffer(refusal=InvitationRequired.message)
    return SignUpOffer()
