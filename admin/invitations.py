"""An administrator's invitations, over the store sign-up checks (``webauthn.invitations``):
inviting one person, inviting many from a CSV file (all or none), and granting an
invitation's role when its sign-up completes (``events.InvitationAccepted``), with the
inviting administrator as actor."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from admin import roles
from admin.models import Role
from core import events
from core.context import RequestContext
from core.errors import AppError, InvalidInput
from core.models import User
from core.users import normalise_email, normalise_username, username_key
from webauthn import invitations
from webauthn.invitations import Created
from webauthn.models import InvitationDelivery

log = logging.getLogger(__name__)

CSV_HEADER = ("email", "username", "role")
MAX_CSV_ROWS = 1000
# The largest CSV upload: MAX_CSV_ROWS rows of the longest address and username, with room.
MAX_CSV_BYTES = 512 * 1024


def invite(
    db: Session,
    ctx: RequestContext,
    *,
    email: str,
    username: str | None,
    role: Role | None,
    delivery: InvitationDelivery,
    ttl: int,
    origin: str,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> Created:
    """One invitation, made by an administrator (``actor_user_id``) or the CLI (``actor``)."""
    return invitations.create(
        db,
        ctx,
        email=email,
        username=username,
        role=role.value if role is not None else None,
        delivery=delivery,
        ttl=ttl,
        origin=origin,
        actor_user_id=actor_user_id,
        actor=actor,
    )


@dataclass(frozen=True)
class RowResult:
    row: int  # the row's line in the file (the header is line 1)
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Imported:
    results: list[RowResult]
    created: int  # 0 unless every row was fine


@dataclass(frozen=True)
class _Row:
    line: int
    email: str
    username: str | None
    role: Role | None


def _records(text: str) -> list[tuple[int, list[str]]]:
    """The file's non-empty records after the header, each with its line; ``InvalidInput``
    for what is not such a CSV file (no header, another header, too many rows)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or tuple(c.strip().lower() for c in header) != CSV_HEADER:
            raise InvalidInput(
                "The first row of the file must be the header: " + ",".join(CSV_HEADER) + "."
            )
        records = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            records.append((reader.line_num, record))
            if len(records) > MAX_CSV_ROWS:
                raise InvalidInput(f"A file may invite at most {MAX_CSV_ROWS} people.")
    except csv.Error as error:
        raise InvalidInput(f"This is not a CSV file: {error}.") from None
    if not records:
        raise InvalidInput("The file invites nobody: it has no row after the header.")
    return records


def _row(line: int, record: list[str]) -> _Row:
    if len(record) != len(CSV_HEADER):
        raise InvalidInput(f"A row has {len(CSV_HEADER)} cells: " + ",".join(CSV_HEADER) + ".")
    email, username, role = (cell.strip() for cell in record)
    if role and role not in {r.value for r in Role}:
        raise InvalidInput(
            "Unknown role: a role is " + " or ".join(r.value for r in Role) + ", or empty."
        )
    return _Row(
        line=line,
        email=normalise_email(email),
        username=normalise_username(username) if username else None,
        role=Role(role) if role else None,
    )


def import_csv(
    db: Session,
    ctx: RequestContext,
    text: str,
    *,
    ttl: int,
    origin: str,
    actor_user_id: int,
) -> Imported:
    """Invites every row of a CSV file (``email,username,role``; username and role may be
    empty), each by mail. All or none: when any row is bad (an address or username that
    breaks the rules, an unknown role, an address or username twice in the file or taken by
    an ID, a username a pending invitation keeps) no invitation is made and each bad row says
    why."""
    checked: list[_Row] = []
    results: list[RowResult] = []
    seen_emails: dict[str, int] = {}
    seen_usernames: dict[str, int] = {}
    for line, record in _records(text):
        try:
            row = _row(line, record)
            first = seen_emails.get(row.email.lower())
            if first is not None:
                raise InvalidInput(f"The address is in the file twice (line {first} too).")
            if row.username is not None:
                first = seen_usernames.get(username_key(row.username))
                if first is not None:
                    raise InvalidInput(f"The username is in the file twice (line {first} too).")
            invitations.check_invitee(db, ctx.now, email=row.email, username=row.username)
        except AppError as error:
            results.append(RowResult(row=line, ok=False, error=error.message))
            continue
        seen_emails[row.email.lower()] = line
        if row.username is not None:
            seen_usernames[username_key(row.username)] = line
        checked.append(row)
        results.append(RowResult(row=line, ok=True))
    if len(checked) != len(results):
        return Imported(results=results, created=0)
    for row in checked:
        invite(
            db,
            ctx,
            email=row.email,
            username=row.username,
            role=row.role,
            delivery=InvitationDelivery.EMAIL,
            ttl=ttl,
            origin=origin,
            actor_user_id=actor_user_id,
        )
    return Imported(results=results, created=len(checked))


# ---- when an invitation is used ------------------------------------------------------------


def _grant_role(db: Session, event: events.InvitationAccepted) -> None:
    """The invitation's role, granted to the new ID by whoever invited (audited as such)."""
    if event.role is None or event.user_id is None:
        return
    try:
        role = Role(event.role)
    except ValueError:  # never made by admin/: refuse to guess
        log.warning("invitation %s names no role we know: %r", event.invitation_id, event.role)
        return
    user = db.get(User, event.user_id)
    if user is None:
        return
    roles.grant(db, event.ctx, user, role, actor_user_id=event.actor_user_id, actor=event.actor)


def connect() -> None:
    """Idempotent (``events.subscribe`` keeps one subscription per handler)."""
    events.subscribe(events.InvitationAccepted, _grant_role)
