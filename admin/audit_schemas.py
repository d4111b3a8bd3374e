"""The audit trail's requests and answers (``/api/admin/audit``, ``/api/admin/audit.csv``) and
their endpoints' declarations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from admin.audit import MAX_PER_PAGE, Entry, Filters, Page
from admin.schemas import GATE, TAG
from core.db import ROW_ID_MAX
from core.schemas import Answer, Endpoint, Query, Timestamp, document, rule_error


def _moment(value: Any) -> datetime:
    """An ISO 8601 date or time (``2026-12-01``, ``2026-12-01T08:00:00Z``, with an offset);
    without a time zone it is UTC. A ``+`` left unencoded in a URL arrives as a space: read
    as the ``+`` it was."""
    if not isinstance(value, str):
        raise rule_error("Times must be ISO 8601 (2026-12-01T08:00:00Z).")
    text = value.strip()
    if " " in text and "T" in text:
        text = text.replace(" ", "+")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise rule_error("Times must be ISO 8601 (2026-12-01T08:00:00Z).") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Moment = Annotated[
    datetime,
    BeforeValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
RowId = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]


class AuditQuery(Query):
    user_id: RowId | None = Field(default=None, description="The ID the event is about")
    kind: str | None = Field(
        default=None,
        max_length=640,
        description="The event's name (`signed_in`, `device_blocked`…), or several separated "
        "by commas (any of them)",
    )
    actor_id: RowId | None = Field(
        default=None, description="The administrator's ID who acted (for another ID)"
    )
    ip: str | None = Field(default=None, max_length=64, description="The caller's IP, exactly")
    since: Moment | None = Field(
        default=None, description="From this time on (ISO 8601; UTC without a time zone)"
    )
    until: Moment | None = Field(default=None, description="Before this time (ISO 8601)")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise rule_error("'since' must not be after 'until'.")
        return self

    def filters(self) -> Filters:
        return Filters(
            user_id=self.user_id,
            kinds=tuple(k.strip() for k in (self.kind or "").split(",") if k.strip()),
            actor_id=self.actor_id,
            ip=self.ip,
            since=self.since,
            until=self.until,
        )


class AuditEventOut(Answer):
    """One event of the audit trail."""

    id: int
    at: Timestamp
    kind: str
    user_id: int | None = Field(description="The ID the event is about (null: none, a policy)")
    actor_id: int | None = Field(description="The administrator's ID, for an admin's action")
    actor: str | None = Field(description="That administrator's username")
    device_id: int | None
    ip: str
    user_agent: str
    details: dict[str, Any] = Field(description="What the event recorded; never a secret")

    @classmethod
    def from_entry(cls, entry: Entry) -> AuditEventOut:
        return cls(**vars(entry))


class AuditPage(Answer):
    events: list[AuditEventOut] = Field(description="Newest first")
    total: int
    page: int
    per_page: int

    @classmethod
    def from_page(cls, page: Page) -> AuditPage:
        return cls(
            events=[AuditEventOut.from_entry(e) for e in page.events],
            total=page.total,
            page=page.page,
            per_page=page.per_page,
        )


document(
    "admin_audit_api",
    audit=Endpoint(
        "The audit trail: filters and pages, newest first (admins only)",
        tag=TAG,
        query=AuditQuery,
        responses={200: AuditPage},
        errors=GATE,
    ),
    audit_csv=Endpoint(
        "The audit trail as CSV, streamed (admins only)",
        tag=TAG,
        query=AuditQuery,
        responses={
            200: "`text/csv` attachment: a header row of the JSON answer's field names, then "
            "every event the filters select, newest first (`details` as compact JSON; a cell "
            "a spreadsheet would run as a formula starts with `'`); `page` and `per_page` are "
            "ignored"
        },
        errors=GATE,
    ),
)
