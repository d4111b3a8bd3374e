"""The audit trail for administrators (``/api/admin/audit``, ``/api/admin/audit.csv``): admins
only (``Action.VIEW_AUDIT``: a helpdesk gets 403 ``forbidden`` too), the role checked before
the query is read."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context

from admin import audit as audit_service
from admin.audit import Filters
from admin.audit_schemas import AuditPage, AuditQuery
from admin.roles import Action
from admin.web import allowed
from core import db as database
from core.schemas import answer, parse_query
from core.web import request_context

api = Blueprint("admin_audit_api", __name__, url_prefix="/api/admin")


@api.get("/audit")
def audit() -> Response:
    allowed(Action.VIEW_AUDIT)
    query = parse_query(AuditQuery)
    page = audit_service.list_events(
        database.session(), query.filters(), page=query.page, per_page=query.per_page
    )
    return answer(AuditPage.from_page(page))


@api.get("/audit.csv")
def audit_csv() -> Response:
    allowed(Action.VIEW_AUDIT)
    filters = parse_query(AuditQuery).filters()
    stamp = request_context().now.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        stream_with_context(_csv(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=keystead-audit-{stamp}.csv"},
    )


def _csv(filters: Filters) -> Iterator[str]:
    """The rows leave as they are read, after the view returned and its request's session
    was closed (Flask tears the request down when the view returns, and again when a
    streamed body ends). So the stream reads in a session of its own, begun here, in the
    request's context that ``stream_with_context`` pushes again, and closed when the last row
    is sent or the client goes away: its transaction (which holds PostgreSQL's server-side
    cursor) lives exactly as long as the stream."""
    db = database.session()
    entries = audit_service.stream_events(db, filters)
    try:
        yield from audit_service.csv_chunks(entries)
    finally:
        entries.close()  # its cursor first, then the session and its connection
        db.close()
