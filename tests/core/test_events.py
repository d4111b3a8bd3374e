"""Typed events (core/events.py): a misspelt or missing fact fails where the event is made, a
subscriber hears its event's subclasses, every event but the secret-bearing ones is audited,
and no subscriber can swallow unknown keywords."""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import FrozenInstanceError, fields
from typing import Any

import pytest
import sqlalchemy as sa

from core import audit, events
from core import db as database
from core.clock import utcnow
from core.context import RequestContext
from core.models import AuditEvent
from core.security import ClientInfo

CTX = RequestContext(
    client=ClientInfo(ip="192.0.2.7", user_agent="Tests/1.0", browser=b"browser"), now=utcnow()
)


def concrete_events(base: type[events.Event] = events.Event) -> list[type[events.Event]]:
    """Every event class defined that can be emitted (has a name), however deep."""
    found = []
    for sub in base.__subclasses__():
        if "name" in vars(sub):
            found.append(sub)
        found.extend(concrete_events(sub))
    return found


def sample(event_type: type[events.Event], user_id: int | None) -> events.Event:
    """An instance of ``event_type`` with a value of the declared type in every field."""
    hints = typing.get_type_hints(event_type)
    values: dict[str, Any] = {"ctx": CTX, "user_id": user_id, "device_id": 7}
    for field in fields(event_type):
        if field.name in values:
            continue
        kind = hints[field.name]
        if isinstance(kind, types.UnionType):
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        if typing.get_origin(kind) is tuple:
            values[field.name] = ("Old phone", "Old key")
        elif kind is bool:
            values[field.name] = True
        elif kind is int:
            values[field.name] = 3
        elif field.name == "to":
            values[field.name] = "alice@example.com"
        else:
            values[field.name] = f"{field.name}-value"
    return event_type(**values)


def audit_only() -> list[tuple[type[events.Event], Any]]:
    return [(t, h) for t, h in events._subscriptions if h.__module__ == "core.audit"]


def audit_rows(app: Any) -> list[Any]:
    with app.extensions[database.ENGINE_KEY].connect() as conn:
        return list(conn.execute(sa.select(AuditEvent.__table__).order_by(AuditEvent.id)))


# ---- making an event -----------------------------------------------------------------------


def test_a_misspelt_or_missing_fact_fails_where_the_event_is_made():
    with pytest.raises(TypeError, match="device_nme"):
        events.DeviceAdded(ctx=CTX, user_id=1, device_id=2, device_nme="Laptop")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="device_name"):
        events.DeviceAdded(ctx=CTX, user_id=1, device_id=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        events.SignedOut(CTX, 1)  # type: ignore[misc]  # keywords only
    made = events.DeviceAdded(ctx=CTX, user_id=1, device_id=2, device_name="Laptop")
    with pytest.raises(FrozenInstanceError):
        made.device_name = "Other"  # type: ignore[misc]


def test_kinds_of_events_are_not_events_to_emit():
    for base in (events.Event, events.SecretEvent):
        with pytest.raises(TypeError, match="not one to emit"):
            base(ctx=CTX, user_id=1)
    with pytest.raises(TypeError, match="not one to emit"):
        events.DeviceEvent(ctx=CTX, user_id=1, device_id=2, device_name="x")
    with pytest.raises(TypeError, match="not one to emit"):
        events.DeviceRecovered(
            ctx=CTX, user_id=1, device_id=2, device_name="x", removed_devices=(), to="a", at="b"
        )


def test_every_event_has_its_own_stored_name():
    names = [event_type.name for event_type in concrete_events()]
    assert len(names) == len(set(names)) > 20
    assert events.DeviceAdded.name == "device_added"  # what the audit table holds


def test_details_are_the_events_own_facts_and_a_default_only_when_set():
    added = events.DeviceAdded(ctx=CTX, user_id=1, device_id=2, device_name="Laptop")
    assert added.details() == {"device_name": "Laptop"}
    first = events.DeviceAdded(
        ctx=CTX, user_id=1, device_id=2, device_name="Laptop", first_device=True
    )
    assert first.details() == {"device_name": "Laptop", "first_device": True}
    deleted = events.UserDeleted(ctx=CTX, user_id=1, to=None, username="alice")
    assert deleted.details() == {"to": None, "username": "alice"}  # a required None stays
    restored = sample(events.DeviceRestored, 1)
    assert restored.details()["removed_devices"] == ["Old phone", "Old key"]  # JSON, a list


# ---- subscribing and emitting --------------------------------------------------------------


def test_a_subscriber_hears_its_event_and_its_subclasses_in_the_order_they_subscribed(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(events, "_subscriptions", [])
    heard: list[tuple[str, str]] = []

    def any_device_event(_db: Any, event: events.DeviceEvent) -> None:
        heard.append(("device event", event.name))

    def added_only(_db: Any, event: events.DeviceAdded) -> None:
        heard.append(("added", event.device_name))

    events.subscribe(events.DeviceEvent, any_device_event)
    events.subscribe(events.DeviceAdded, added_only)
    events.subscribe(events.DeviceEvent, any_device_event)  # again: still once
    events.emit(None, events.DeviceAdded(ctx=CTX, user_id=1, device_id=2, device_name="Key"))  # type: ignore[arg-type]
    events.emit(None, events.SignedOut(ctx=CTX, user_id=1))  # type: ignore[arg-type]
    assert heard == [("device event", "device_added"), ("added", "Key")]


def test_an_event_nobody_listens_to_is_fine(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(events, "_subscriptions", [])
    events.emit(None, sample(events.RecoveryStarted, 1))  # type: ignore[arg-type]


def test_no_subscriber_swallows_unknown_keywords(app: Any):
    assert events._subscriptions, "create_app subscribes the features"
    for event_type, handler in events._subscriptions:
        parameters = inspect.signature(handler).parameters.values()
        assert [p.kind for p in parameters] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2, (
            event_type,
            handler,
        )


# ---- the audit trail -----------------------------------------------------------------------


def test_every_event_but_the_secret_ones_is_audited_as_it_is(
    app: Any, signed_in: Any, monkeypatch: pytest.MonkeyPatch
):
    assert (events.Event, audit.record) in events._subscriptions
    monkeypatch.setattr(events, "_subscriptions", audit_only())
    user_id = signed_in.get("/api/me").get_json()["user"]["id"]
    before = len(audit_rows(app))
    emitted = [sample(t, user_id) for t in concrete_events()]
    with app.app_context():
        db = database.session()
        for event in emitted:
            events.emit(db, event)
        db.commit()
    rows = audit_rows(app)[before:]
    audited = [e for e in emitted if not isinstance(e, events.SecretEvent)]
    # the mailed one-time code, backup code and invitation link
    assert len(audited) == len(emitted) - 3
    assert [(r.kind, r.user_id, r.device_id, r.ip, r.user_agent, r.data) for r in rows] == [
        (e.name, user_id, 7, "192.0.2.7", "Tests/1.0", e.details()) for e in audited
    ]


def test_a_secret_event_never_reaches_the_audit_trail(app: Any, signed_in: Any):
    """The audit trail subscribes to every event; the code a mail carries is left out by its
    type."""
    user_id = signed_in.get("/api/me").get_json()["user"]["id"]
    before = audit_rows(app)
    with app.app_context():
        db = database.session()
        for event_type in concrete_events(events.SecretEvent):
            events.emit(db, sample(event_type, user_id))
        db.flush()
        assert db.scalar(sa.select(sa.func.count(AuditEvent.id))) == len(before)
        db.rollback()
    assert {t.name for t in concrete_events(events.SecretEvent)} == {
        "email_code_issued",
        "backup_code_delivered",
        "invitation_delivered",
    }
