"""The dashboard's figures (``GET /api/admin/stats``): admins only (``Action.VIEW_STATS``)."""

from __future__ import annotations

from flask import Blueprint, Response

from admin import stats as stats_service
from admin.roles import Action
from admin.stats_schemas import StatsAnswer
from admin.web import allowed
from core import db as database
from core.schemas import answer
from core.web import request_context

api = Blueprint("admin_stats_api", __name__, url_prefix="/api/admin")


@api.get("/stats")
def stats() -> Response:
    allowed(Action.VIEW_STATS)
    figures = stats_service.stats(database.session(), request_context().now)
    return answer(StatsAnswer.from_stats(figures))
