"""Policies: the keys ``core.config`` declares ``policy=True`` (recovery and backup rules,
throttles, mail caps, lifetimes, ceremony options) may change while the server runs. Their
effective value is the configured one (defaults → ``instance/config.py`` → environment) unless
a value is stored in ``policy_values``; every change also replaces the stamp in
``policy_state``, in the same transaction.

Per request (``current``, at the first read) one statement reads that stamp by primary key.
While it is the one this process's ``PolicyCache`` was read under, the cached ``Policy`` (and
the feature settings objects built from it) serve the request; when it differs, the stored
values are read again and the objects rebuilt once. So a change made by any worker, or any app
on the same database, applies from the next request everywhere, and nothing is rebuilt while
nothing changes.

Plain Python over a SQLAlchemy session except ``init_app`` and ``current``, the Flask glue.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from core import db as database
from core import events
from core.config import SETTINGS, ConfigError, Setting
from core.context import RequestContext
from core.errors import InvalidInput
from core.models import PolicyState, PolicyValue
from core.orm import rowcount

log = logging.getLogger(__name__)
T = TypeVar("T")

POLICIES: dict[str, Setting] = {key: s for key, s in SETTINGS.items() if s.policy}
STATE_ID = 1
_STAMP = sa.select(PolicyState.stamp).where(PolicyState.id == STATE_ID)


class UnknownSetting(InvalidInput):
    message = "There is no such setting."


class NotAPolicy(InvalidInput):
    message = "This setting is read at start-up only; change it in the configuration."


class InvalidPolicyValue(InvalidInput):
    message = "That value is not allowed for this setting."


class Policy(Mapping[str, Any]):
    """The effective configuration under one stamp: every key of the app's configuration, a
    policy's stored value winning over its configured one. Reading a key that is not there
    raises ``KeyError``, as ``app.config`` does."""

    def __init__(
        self, configured: Mapping[str, Any], stored: Mapping[str, Any], stamp: str | None
    ) -> None:
        self.stamp = stamp
        self.stored = dict(stored)
        self._configured = configured
        self._built: dict[Callable[[Mapping[str, Any]], Any], Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self.stored:
            return self.stored[key]
        return self._configured[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._configured)

    def __len__(self) -> int:
        return len(self._configured)

    def settings(self, factory: Callable[[Mapping[str, Any]], T]) -> T:
        """``factory(self)`` (a feature's settings object, e.g. ``Settings.from_config``),
        built once under this stamp."""
        try:
            return self._built[factory]
        except KeyError:
            built = self._built[factory] = factory(self)
            return built


def _policy_setting(key: str) -> Setting:
    setting = SETTINGS.get(key)
    if setting is None:
        raise UnknownSetting(f"There is no setting {key!r}.")
    if not setting.policy:
        raise NotAPolicy(
            f"{key} is read at start-up only; change it in the configuration and restart."
        )
    return setting


def _valid_stored(rows: list[PolicyValue]) -> dict[str, Any]:
    """The stored values their key's declaration still accepts. One that it no longer does (a
    key dropped or narrowed by an upgrade) is ignored, with a warning, rather than served."""
    values: dict[str, Any] = {}
    for row in rows:
        setting = POLICIES.get(row.key)
        problem = "not a policy" if setting is None else setting.problem(row.key, row.value)
        if problem:
            log.warning("ignoring the stored policy %s=%r: %s", row.key, row.value, problem)
            continue
        values[row.key] = row.value
    return values


def _read(db: Session, configured: Mapping[str, Any], stamp: str | None) -> Policy:
    rows = list(db.scalars(sa.select(PolicyValue)))
    return Policy(configured, _valid_stored(rows), stamp)


def effective(db: Session, configured: Mapping[str, Any]) -> Policy:
    """The effective policy now, read without a cache (the command line)."""
    return _read(db, configured, db.scalar(_STAMP))


class PolicyCache:
    """One per app: the ``Policy`` last read and the stamp it was read under. ``builds``
    counts the reads of the stored values (tests)."""

    def __init__(self, configured: Mapping[str, Any]) -> None:
        self._configured = configured
        self._policy: Policy | None = None
        self.builds = 0

    def current(self, db: Session) -> Policy:
        stamp = db.scalar(_STAMP)
        policy = self._policy
        if policy is None or policy.stamp != stamp:
            # Another thread may be doing the same: both read the same committed rows, and the
            # last assignment wins.
            policy = self._policy = _read(db, self._configured, stamp)
            self.builds += 1
        return policy


# ---- changing policies (the command line; the admin pages later) ---------------------------


def parse_value(key: str, raw: str) -> Any:
    """A policy value written as text (a command-line argument), read by the key's type."""
    setting = _policy_setting(key)
    try:
        return setting.parse(key, raw)
    except ConfigError as error:
        raise InvalidPolicyValue(str(error)) from None


def set_policy(
    db: Session,
    ctx: RequestContext,
    key: str,
    value: Any,
    *,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> None:
    """Stores ``value`` for ``key``: it wins over the configured value from the next request
    on, in every process. Refused (``InvalidInput``, nothing stored): an unknown key, a key read
    at start-up only, a value of the wrong type, out of range or not among the choices.
    ``actor``: who did it when no ID did (``cli:<login>``)."""
    now = ctx.now
    setting = _policy_setting(key)
    problem = setting.problem(key, value)
    if problem:
        raise InvalidPolicyValue(problem + ".")
    row = db.get(PolicyValue, key)
    previous = None if row is None else row.value
    if row is None:
        db.add(PolicyValue(key=key, value=value, updated_at=now, updated_by=actor_user_id))
    else:
        row.value, row.updated_at, row.updated_by = value, now, actor_user_id
    _changed(db, now)
    _emit(db, ctx, key, value, previous, actor_user_id, actor)
    db.flush()


def set_policies(
    db: Session, ctx: RequestContext, changes: Mapping[str, Any], *, actor_user_id: int
) -> None:
    """Sets each key to its value (``None``: back to the configured value), as an
    administrator did. All or nothing: the first refused key raises, and the request's error
    handler rolls back the others."""
    for key, value in changes.items():
        if value is None:
            unset_policy(db, ctx, key, actor_user_id=actor_user_id)
        else:
            set_policy(db, ctx, key, value, actor_user_id=actor_user_id)


def unset_policy(
    db: Session,
    ctx: RequestContext,
    key: str,
    *,
    actor_user_id: int | None = None,
    actor: str | None = None,
) -> bool:
    """Removes the stored value of ``key``: the configured value applies again from the next
    request on. False (and nothing recorded) when none was stored."""
    _policy_setting(key)
    row = db.get(PolicyValue, key)
    if row is None:
        return False
    previous = row.value
    db.delete(row)
    _changed(db, ctx.now)
    _emit(db, ctx, key, None, previous, actor_user_id, actor)
    db.flush()
    return True


def _changed(db: Session, now: datetime) -> None:
    """A new stamp, in the change's transaction: every process rereads on its next request."""
    stamp = secrets.token_hex(16)
    updated = db.execute(
        sa.update(PolicyState)
        .where(PolicyState.id == STATE_ID)
        .values(stamp=stamp, changed_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(updated) == 0:
        db.add(PolicyState(id=STATE_ID, stamp=stamp, changed_at=now))


def _emit(
    db: Session,
    ctx: RequestContext,
    key: str,
    value: Any,
    previous: Any,
    actor_user_id: int | None,
    actor: str | None,
) -> None:
    events.emit(
        db,
        events.PolicyChanged(
            ctx=ctx,
            user_id=None,
            key=key,
            value=value,
            previous=previous,
            actor_user_id=actor_user_id,
            actor=actor,
        ),
    )


@dataclass(frozen=True)
class Described:
    """One policy as an administrator sees it."""

    key: str
    doc: str
    values: str  # what it accepts, in words
    default: Any  # core.config's default
    configured: Any  # after instance/config.py and the environment
    stored: Any  # None: nothing stored
    effective: Any
    updated_at: datetime | None
    updated_by: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "doc": self.doc,
            "values": self.values,
            "default": self.default,
            "configured": self.configured,
            "stored": self.stored,
            "effective": self.effective,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


def describe(db: Session, configured: Mapping[str, Any]) -> list[Described]:
    """Every policy: its default, configured, stored and effective value."""
    rows = {row.key: row for row in db.scalars(sa.select(PolicyValue))}
    policy = Policy(configured, _valid_stored(list(rows.values())), None)
    described = []
    for key, setting in POLICIES.items():
        row = rows.get(key)
        described.append(
            Described(
                key=key,
                doc=setting.doc,
                values=setting.values(),
                default=setting.default,
                configured=configured[key],
                stored=None if row is None else row.value,
                effective=policy[key],
                updated_at=None if row is None else row.updated_at,
                updated_by=None if row is None else row.updated_by,
            )
        )
    return described


# ---- Flask glue ----------------------------------------------------------------------------

CACHE_KEY = "keystead.policy"


def init_app(app: Flask) -> None:
    app.extensions[CACHE_KEY] = PolicyCache(app.config)
    # The branding (core.branding) is cached under the policy stamp: its change renews it, so
    # every process reads it again at its next request.
    events.subscribe(events.BrandingChanged, _branding_changed)


def _branding_changed(db: Session, event: events.BrandingChanged) -> None:
    _changed(db, event.ctx.now)


def current() -> Policy:
    """The policy this request (or app context) runs under, read at its first use."""
    if "policy" not in g:
        g.policy = current_app.extensions[CACHE_KEY].current(database.session())
    return g.policy
