"""The HTTP edge's one declaration (core/schemas.py and each feature's schemas.py): input that
does not fit its model is 400 ``invalid_input`` and changes nothing, a view reads only what
its endpoint declares, answers keep their JSON, and a rule (the username's) has one owner
that the API, the document and the pages all follow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from core import db as database
from core import schemas
from core.db import Base
from core.users import DISPLAY_NAME, EMAIL, USERNAME
from tests.conftest import ORIGIN, Api
from tests.openapi_check import spec
from webauthn.devices import DEVICE_NAME

ROOT = Path(__file__).resolve().parents[2]


def everything(app: Any) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table."""
    with app.extensions[database.ENGINE_KEY].connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
            for table in Base.metadata.sorted_tables
        }


def send(api: Api, method: str, path: str, body: Any) -> Any:
    return api.client.open(path, method=method, json=body, headers={"Origin": ORIGIN})


NEW_USER = {"username": "mallory", "email": "m@example.com"}
USERNAME_MESSAGE = "A username is 3 to 64 letters, digits, '.', '_' or '-'."


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/api/register/begin", {**NEW_USER, "username": "mal lory"}, USERNAME_MESSAGE),
        ("POST", "/api/register/begin", {**NEW_USER, "username": ["x"]}, "'username' must be"),
        ("POST", "/api/register/begin", {"username": "mallory"}, "'email' is required."),
        ("POST", "/api/authenticate/begin", {"username": {"$ne": ""}}, "'username' must be"),
        ("PATCH", "/api/devices/{device}", {"name": 5}, "'name' must be a string."),
        ("PATCH", "/api/me", {"display_name": None}, "'display_name' is required."),
        ("PATCH", "/api/me", {"display_name": "two\nlines"}, "on one line"),
        ("DELETE", "/api/me", {}, "'confirm' is required."),
        ("POST", "/api/me/email", {"email": "not-an-address"}, "Enter a valid email address."),
        ("POST", "/api/me/backup-email", {"email": 42}, "'email' must be a string."),
        ("POST", "/api/backup/confirm", {"otp": 12345678}, "'otp' must be a string."),
        ("POST", "/api/recovery/begin", {"username": "alice"}, "'backup_code' is required."),
        ("POST", "/api/recovery/begin", {"username": "a", "backup_code": "0" * 129}, "at most"),
        ("POST", "/api/recovery/complete", {"mode": "merge"}, "restore"),
        ("POST", "/api/pairing/some-token/begin", {"device_name": 7}, "'device_name' must be"),
        ("POST", "/api/pairing/some-token/approve", {"confirmation": "4 2"}, "2-digit number"),
        ("POST", "/api/devices/{device}/block", [], "JSON object"),
        ("GET", "/api/notifications?since=abc", None, "'since' must be a notification id."),
        ("GET", "/api/notifications?since=-1", None, "'since' must be a notification id."),
        ("GET", "/api/notifications?since=%C2%B2", None, "'since' must be a notification id."),
        ("GET", "/api/notifications?since=" + "9" * 19, None, "'since' must be"),
    ],
)
def test_input_that_does_not_fit_is_invalid_input_and_changes_nothing(
    app, signed_in, method, path, body, message
):
    device = signed_in.get("/api/devices").get_json()["devices"][0]["id"]
    path = path.format(device=device)
    before = everything(app)
    if method == "GET":
        response = signed_in.get(path)
    else:
        response = send(signed_in, method, path, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_input"
    assert message in response.get_json()["message"]
    assert everything(app) == before


def test_a_query_value_that_fits_is_read(signed_in):
    listed = signed_in.get("/api/notifications?since=0&unknown=1")
    assert listed.status_code == 200 and listed.get_json()["notifications"] == []
    assert signed_in.get("/api/notifications?since=" + "9" * 18).status_code == 200


def test_keys_nobody_reads_are_ignored_as_they_always_were(signed_in):
    device = signed_in.get("/api/devices").get_json()["devices"][0]["id"]
    renamed = signed_in.patch(f"/api/devices/{device}", {"name": "Laptop", "color": "red"})
    assert renamed.status_code == 200 and renamed.get_json()["device"]["name"] == "Laptop"


def test_a_view_reads_only_the_body_its_endpoint_declares(app, signed_in, monkeypatch):
    """A view that parsed another model than its declaration would make the document lie: it
    is a bug, a 500, before anything changes."""
    name = "webauthn_api.rename_device"
    declared = schemas.declared(name)
    assert declared is not None
    monkeypatch.setitem(
        schemas._ENDPOINTS, name, schemas.Endpoint("x", "x", {}, body=schemas.NoFields)
    )
    device = signed_in.get("/api/devices").get_json()["devices"][0]["id"]
    before = everything(app)
    response = signed_in.patch(f"/api/devices/{device}", {"name": "Renamed"})
    assert response.status_code == 500
    assert everything(app) == before


def test_every_declared_endpoint_is_a_route(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert set(schemas.app_endpoints()) == routes


def test_answers_write_moments_as_isoformat_with_an_offset(signed_in):
    device = signed_in.get("/api/devices").get_json()["devices"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", device["created_at"])
    assert device["blocked_at"] is None and device["last_used_at"] is not None


def test_an_answer_key_that_is_only_sometimes_there_stays_so():
    """Under BACKUP_CODE_DELIVERY=display the backup code comes without ``delivered``; the
    email case (``{"delivered": "email"}`` alone) is in test_recovery."""
    from recovery.schemas import NewBackupCode

    assert NewBackupCode(backup_code="K7QM").to_json() == {"backup_code": "K7QM"}
    assert NewBackupCode(delivered="email").to_json() == {"delivered": "email"}


# ---- one owner per rule --------------------------------------------------------------------


def test_the_username_rule_is_written_once():
    """core/users.py declares it; the API, the document and the pages use that declaration."""
    written = [
        path.relative_to(ROOT).as_posix()
        for pattern in ("**/*.py", "static/js/*.js", "templates/**/*.html")
        for path in ROOT.glob(pattern)
        if not path.is_relative_to(ROOT / "tests")
        and ".venv" not in path.parts
        and "A-Za-z0-9._" in path.read_text(encoding="utf-8")
    ]
    assert written == ["core/users.py"]


def test_the_document_shows_the_declared_rules():
    properties = spec()["components"]["schemas"]["SignUpBegin"]["properties"]
    assert properties["username"]["pattern"] == f"^{USERNAME.pattern}$"
    assert properties["username"]["minLength"] == USERNAME.min_length
    assert properties["username"]["maxLength"] == USERNAME.max_length
    # Optional (an invitation brings its own address): the rule is on its string branch.
    (email,) = [b for b in properties["email"]["anyOf"] if b.get("type") == "string"]
    assert email["maxLength"] == EMAIL.max_length
    since = spec()["paths"]["/api/notifications"]["get"]["parameters"][0]
    assert since["name"] == "since" and since["in"] == "query"
    assert since["schema"]["type"] == "integer"


def test_pages_render_the_rules_the_server_checks(client):
    html = client.get("/signup").get_data(as_text=True)
    username = re.search(r'<input id="username"[^>]*>', html, re.S)
    assert username is not None
    attributes = dict(re.findall(r'(\w+)="([^"]*)"', username.group(0)))
    assert attributes["pattern"] == USERNAME.pattern
    assert attributes["minlength"] == str(USERNAME.min_length)
    assert attributes["maxlength"] == str(USERNAME.max_length)
    assert re.fullmatch(attributes["pattern"], "ada.lovelace_1-x")
    assert f'maxlength="{DISPLAY_NAME.max_length}"' in html
    assert f'maxlength="{DEVICE_NAME.max_length}"' in html
    assert f'maxlength="{EMAIL.max_length}"' in html
