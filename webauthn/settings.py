"""What the passkey use cases need from configuration, built once per policy change
(``core.policy``), and the one rule read from it that every sensitive action applies: a fresh
user verification."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import sessions
from core.models import LoginSession
from webauthn.ceremony import AuthenticatorRules, RelyingParty


@dataclass(frozen=True)
class Settings:
    """What the passkey use cases need from configuration and the policies."""

    rp: RelyingParty
    challenge_ttl: int
    secret_key: str
    sessions: sessions.SessionPolicy
    reauth_max_age: int
    authenticators: AuthenticatorRules = AuthenticatorRules()
    # Who may create an ID: "open", "invite" (an invitation needed) or "closed".
    registration: str = "open"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            rp=RelyingParty(
                id=config["RP_ID"],
                name=config["RP_NAME"],
                origins=frozenset(config["ALLOWED_ORIGINS"]),
                user_verification=config["USER_VERIFICATION"],
                resident_key=config["RESIDENT_KEY"],
                timeout_ms=config["CHALLENGE_TTL"] * 1000,
                attestation="direct" if config["ATTESTATION_REQUIRED"] else "none",
            ),
            challenge_ttl=config["CHALLENGE_TTL"],
            secret_key=config["SECRET_KEY"],
            sessions=sessions.SessionPolicy.from_config(config),
            reauth_max_age=config["REAUTH_MAX_AGE"],
            authenticators=AuthenticatorRules(
                attestation_required=config["ATTESTATION_REQUIRED"],
                allowed=frozenset(uuid.UUID(a).bytes for a in config["ALLOWED_AUTHENTICATORS"]),
            ),
            registration=config["REGISTRATION"],
        )


def require_fresh(login_session: LoginSession | None, settings: Settings, now: datetime) -> None:
    """Sensitive actions need a user verification in this session within REAUTH_MAX_AGE (the
    step-up in ``webauthn.signin`` gives one)."""
    sessions.require_fresh(login_session, max_age=settings.reauth_max_age, now=now)
