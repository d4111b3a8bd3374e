"""RP-initiated logout: which Keystead sessions a website's sign-out ends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.context import RequestContext
from core.models import LoginSession, User
from embed.models import Client, Grant
from webauthn import signin as signin_service


def end_sessions(
    db: Session,
    ctx: RequestContext,
    *,
    client: Client | None,
    claims: dict[str, Any] | None,
    user: User | None,
) -> bool:
    """Ends the Keystead session the website's ID token names (its ``sid``, for that client),
    or, when the person confirmed on the page without one, this browser's. What websites hold
    through an ended session dies with it (``embed.tokens.live_user``). True when this
    browser's own session ended (its cookie is to be cleared)."""
    ended: set[int] = set()
    if claims and client is not None:
        ended = {
            session_id
            for session_id in db.scalars(
                sa.select(Grant.login_session_id).where(
                    Grant.sid == str(claims.get("sid", "")),
                    Grant.client_pk == client.id,
                )
            )
            if session_id is not None
        }
        if ended:
            db.execute(
                sa.update(LoginSession)
                .where(LoginSession.id.in_(ended), LoginSession.revoked_at.is_(None))
                .values(revoked_at=ctx.now)
            )
    browser_session = ctx.login_session
    if browser_session is None or (claims and browser_session.id not in ended):
        return False
    signin_service.sign_out(db, ctx, user=user)
    return True
