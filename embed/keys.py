"""The provider's signing keys: made on first use, kept in the database so every worker and
instance signs with the same ones, rotated on demand (``flask --app app oidc rotate-keys``).

The newest key of each algorithm signs. A rotated-out key stays in the JWKS for the lifetime
of an ID token, so every token it signed can still be verified, then it is dropped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.orm import Session

from core import events
from core.context import RequestContext
from embed.clients import ID_TOKEN_ALGORITHMS
from embed.models import SigningKey


def _generate(alg: str, now: datetime) -> SigningKey:
    key = (
        RSAKey.generate_key(2048, private=True)
        if alg == "RS256"
        else ECKey.generate_key("P-256", private=True)
    )
    return SigningKey(
        kid=key.thumbprint(), alg=alg, private_jwk=dict(key.as_dict(private=True)), created_at=now
    )


def ensure_keys(db: Session, now: datetime) -> None:
    """Makes a key for each algorithm that has none in service (the first start)."""
    have = set(db.scalars(sa.select(SigningKey.alg).where(SigningKey.retired_at.is_(None))))
    for alg in ID_TOKEN_ALGORITHMS:
        if alg not in have:
            db.add(_generate(alg, now))
    db.flush()


def signing_jwk(db: Session, alg: str, now: datetime) -> dict[str, Any]:
    """The private JWK (with its ``kid``) that signs for ``alg`` now: the newest in service."""
    key = db.scalars(
        sa.select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.id.desc())
    ).first()
    if key is None:
        ensure_keys(db, now)
        return signing_jwk(db, alg, now)
    return {**key.private_jwk, "kid": key.kid, "alg": key.alg}


def public_jwks(db: Session, now: datetime, *, id_token_ttl: int) -> dict[str, Any]:
    """The JWKS: keys in service and those retired less than an ID token's lifetime ago."""
    ensure_keys(db, now)
    cutoff = now - timedelta(seconds=id_token_ttl)
    keys = db.scalars(
        sa.select(SigningKey)
        .where(sa.or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
        .order_by(SigningKey.id)
    )
    public = []
    for key in keys:
        material = RSAKey if key.alg == "RS256" else ECKey
        imported = material.import_key(key.private_jwk)
        public.append(
            {**imported.as_dict(private=False), "kid": key.kid, "alg": key.alg, "use": "sig"}
        )
    return {"keys": public}


def rotate(db: Session, ctx: RequestContext, *, id_token_ttl: int, actor: str | None) -> list[str]:
    """A new key for each algorithm; the old ones retire (still published for ``id_token_ttl``
    seconds); keys retired longer ago are deleted. Returns the new kids."""
    now = ctx.now
    db.execute(
        sa.delete(SigningKey).where(SigningKey.retired_at <= now - timedelta(seconds=id_token_ttl))
    )
    db.execute(sa.update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now))
    fresh = [_generate(alg, now) for alg in ID_TOKEN_ALGORITHMS]
    db.add_all(fresh)
    db.flush()
    kids = tuple(key.kid for key in fresh)
    events.emit(db, events.SigningKeysRotated(ctx=ctx, user_id=None, kids=kids, actor=actor))
    return list(kids)
