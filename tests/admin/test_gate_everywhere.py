"""Every route under /api/admin, found in the app's URL map rather than listed by hand (so a
route added later is covered the day it is added): signed out it answers 401, to an ID without
a role 403 ``forbidden``, and neither changes anything, whatever the body."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.admin.test_admin_api import _state, person
from tests.conftest import Api, error

# A body every kind of admin endpoint could be handed; the gate must answer before reading it.
BODY = {"roles": ["admin"], "deliver": "display", "confirm": "mallory", "email": "x@example.com"}


def _admin_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, path, the body type the view takes) of every admin route."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/admin"):
            continue
        path = rule.rule
        # An integer where the route takes one, any word elsewhere (a website's client id).
        path = re.sub(r"<int:[a-z_]+>", "1", path)
        path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "some-id", path)
        view = app.view_functions[rule.endpoint]
        body_type = (getattr(view, "raw_body_types", None) or ("application/json",))[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path, body_type))
    return sorted(set(routes))


def _send(api: Api, method: str, path: str, body_type: str) -> Any:
    headers = {"Origin": api.origin}
    if method == "GET":
        return api.client.get(path, headers=headers)
    if body_type != "application/json":  # an upload: bytes of the type the route takes
        headers["Content-Type"] = body_type
        return api.client.open(path, method=method, data=b"email,username,role\n", headers=headers)
    return api.client.open(path, method=method, json=BODY, headers=headers)


def test_the_url_map_has_the_admin_api(app: Flask) -> None:
    routes = _admin_routes(app)
    assert len(routes) >= 30, routes
    assert all("<" not in path for _, path, _ in routes), routes


def test_every_admin_route_refuses_the_signed_out_and_those_without_a_role(app: Flask) -> None:
    nobody = person(app, "mallory")
    anonymous = Api(app.test_client())
    before = _state(app)
    for method, path, body_type in _admin_routes(app):
        assert _send(anonymous, method, path, body_type).status_code == 401, (method, path)
        answer = _send(nobody, method, path, body_type)
        assert error(answer) == (403, "forbidden"), (method, path)
    assert _state(app) == before


@pytest.mark.parametrize("role", ["helpdesk"])
def test_helpdesk_reaches_only_users_and_their_devices(app: Flask, role: str) -> None:
    from tests.admin.test_admin_api import grant

    helen = person(app, "helen")
    grant(app, "helen", role)
    before = _state(app)
    allowed_prefixes = ("/api/admin/users", "/api/admin/devices")
    for method, path, body_type in _admin_routes(app):
        if path.startswith(allowed_prefixes):
            continue
        answer = _send(helen, method, path, body_type)
        assert error(answer) == (403, "forbidden"), (method, path)
    assert _state(app) == before
