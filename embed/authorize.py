"""What an authorization request needs before a code can be issued: a sign-in, a fresh one,
the person's consent, or nothing more. Pure: the endpoint (``embed.views``) gathers the facts,
this decides, the endpoint acts.

OpenID Connect Core §3.1.2.1 and §3.1.2.3: ``prompt=none`` never shows a page (it answers
``login_required`` or ``consent_required`` instead); ``prompt=login`` and ``max_age`` ask for
a new sign-in unless one happened after the request was made (``signed_in_after``: the
continuation of this very request, after the sign-in page); ``prompt=consent`` asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Next(StrEnum):
    SIGN_IN = "sign_in"  # to the sign-in page, then back to this request
    CONSENT = "consent"  # show the consent page
    ISSUE = "issue"  # issue the code
    LOGIN_REQUIRED = "login_required"  # errors for prompt=none, at the redirect URI
    CONSENT_REQUIRED = "consent_required"


@dataclass(frozen=True)
class Facts:
    prompts: frozenset[str]
    max_age: int | None
    now: datetime
    # The browser's Keystead session: when its person signed in, and whether the user was
    # verified then; None when signed out (or the session cannot back a website sign-in).
    auth_time: datetime | None
    user_verified: bool
    # This is the continuation of the request after the sign-in page, made at this instant.
    requested_at: datetime | None
    consent_needed: bool
    consent_given: bool  # the consent form was posted with "allow" just now


class BadPrompt(ValueError):
    """``prompt`` combines ``none`` with another value, or ``max_age`` is not a number."""


def parse_prompt(value: str | None) -> frozenset[str]:
    prompts = frozenset((value or "").split())
    unknown = prompts - {"none", "login", "consent", "select_account"}
    if unknown or ("none" in prompts and len(prompts) > 1):
        raise BadPrompt("prompt")
    return prompts


def parse_max_age(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 9:
        raise BadPrompt("max_age")
    return int(value)


def decide(facts: Facts) -> Next:
    silent = "none" in facts.prompts
    if facts.auth_time is None:
        return Next.LOGIN_REQUIRED if silent else Next.SIGN_IN
    # A sign-in made for this request (it came back from the sign-in page after it began).
    fresh = facts.requested_at is not None and facts.auth_time >= facts.requested_at
    wants_new_sign_in = "login" in facts.prompts or (
        facts.max_age is not None and (facts.now - facts.auth_time).total_seconds() > facts.max_age
    )
    if wants_new_sign_in and not (fresh and facts.user_verified):
        if silent:
            return Next.LOGIN_REQUIRED
        # Came back from the sign-in page without a verified sign-in: asking again would
        # loop, so the website hears it cannot have one.
        return Next.LOGIN_REQUIRED if fresh else Next.SIGN_IN
    if facts.consent_given:
        return Next.ISSUE
    if facts.consent_needed or "consent" in facts.prompts:
        return Next.CONSENT_REQUIRED if silent else Next.CONSENT
    return Next.ISSUE
