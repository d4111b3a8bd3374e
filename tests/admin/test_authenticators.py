"""The admin API over the FIDO metadata (``/api/admin/authenticators``): an administrator sees
the loaded BLOB and its models (compromised, allowed), loads a new BLOB (verified, fresh
verification, audited with the admin as actor), and sets the allow-list policy; everyone else
is refused (401 signed out, 403 ``forbidden`` to an ID without a role and to helpdesk) and
changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.admin.test_admin_api import grant, person
from tests.clock import Clock, stale
from tests.conftest import Api, error, execute
from tests.webauthn.mds import COMPROMISED, GOOD, OTHER, Mds, entry, shared
from tests.webauthn.test_metadata import SOFT, catalogue


@pytest.fixture
def mds() -> Mds:
    return shared()[0]


@pytest.fixture
def config_overrides(tmp_path: Path) -> dict[str, Any]:
    """The test MDS root as the configured trust root (what the upload verifies against)."""
    return {"MDS_TRUST_ROOT": str(shared()[0].root.write(tmp_path, "mds-root.pem"))}


@pytest.fixture
def admin(app: Flask) -> Api:
    api = person(app, "root")
    grant(app, "root", "admin")
    return api


def blob(no: int = 3, **options: Any) -> str:
    mds, vendor = shared()
    return mds.blob(catalogue(vendor), no=no, **options).decode()


def state(app: Flask) -> list[Any]:
    return [
        execute(app, "SELECT no FROM metadata_blob").scalars().all(),
        sorted(execute(app, "SELECT name FROM authenticator_models").scalars().all()),
        sorted(tuple(r) for r in execute(app, "SELECT key, value FROM policy_values")),
    ]


ROUTES = [
    ("get", "/api/admin/authenticators", None),
    ("post", "/api/admin/authenticators/blob", "BLOB"),
]


def call(api: Api, method: str, path: str, body: Any) -> Any:
    if method == "get":
        return api.get(path)
    return api.post(path, {"blob": blob()} if body == "BLOB" else body)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_signed_out_gets_401(app: Flask, admin: Api, method: str, path: str, body: Any) -> None:
    before = state(app)
    assert call(Api(app.test_client()), method, path, body).status_code == 401
    assert state(app) == before


@pytest.mark.parametrize("role", [None, "helpdesk"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_user_and_helpdesk_get_403_and_change_nothing(
    app: Flask, admin: Api, method: str, path: str, body: Any, role: str | None
) -> None:
    someone = person(app, "helen")
    if role:
        grant(app, "helen", role)
    before = state(app)
    assert error(call(someone, method, path, body)) == (403, "forbidden")
    assert state(app) == before


def test_before_any_blob_the_list_is_empty(app: Flask, admin: Api) -> None:
    answer = admin.get("/api/admin/authenticators")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "blob": None,
        "attestation_required": False,
        "authenticators": [],
    }


def test_an_admin_loads_a_blob_and_sees_its_models(app: Flask, admin: Api) -> None:
    answer = admin.post("/api/admin/authenticators/blob", {"blob": blob(no=3)})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["blob"]["no"] == 3 and body["blob"]["entries"] == 4
    assert {"next_update", "loaded_at"} <= set(body["blob"])
    models = {m["aaguid"]: m for m in body["authenticators"]}
    assert models[str(GOOD)] == {
        "aaguid": str(GOOD),
        "name": "Good Key 5",
        "status": "FIDO_CERTIFIED_L1",
        "status_date": "2025-06-01",
        "compromised": False,
        "allowed": True,
    }
    assert models[str(COMPROMISED)]["compromised"] is True
    assert admin.get("/api/admin/authenticators").get_json() == body
    data = execute(
        app, "SELECT data FROM audit_events WHERE kind = 'authenticator_metadata_loaded'"
    ).scalar_one()
    data = data if isinstance(data, dict) else json.loads(data)
    root_id = execute(app, "SELECT id FROM users WHERE username = 'root'").scalar_one()
    assert data["actor_user_id"] == root_id and data["no"] == 3


def test_a_blob_larger_than_an_ordinary_body_is_accepted(app: Flask, admin: Api) -> None:
    """A real BLOB is megabytes; MAX_CONTENT_LENGTH (64 KiB) does not apply to this upload."""
    mds, vendor = shared()
    padding = [entry(OTHER, "x" * 200) for _ in range(400)]  # the same AAGUID, many times
    big = mds.blob([*catalogue(vendor), *padding], no=4).decode()
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    answer = admin.post("/api/admin/authenticators/blob", {"blob": big})
    assert answer.status_code == 200, answer.get_json()


@pytest.mark.parametrize(
    ("upload", "expected"),
    [
        (lambda: blob(corrupt_signature=True), (400, "metadata_signature_invalid")),
        (lambda: Mds.make().blob([]).decode(), (400, "metadata_chain_invalid")),
        (lambda: "not a blob", (400, "metadata_refused")),
        (lambda: blob(no=3), (409, "metadata_rollback")),
    ],
)
def test_a_refused_upload_changes_nothing(
    app: Flask, admin: Api, upload: Any, expected: tuple[int, str]
) -> None:
    assert admin.post("/api/admin/authenticators/blob", {"blob": blob(no=3)}).status_code == 200
    before = state(app)
    assert error(admin.post("/api/admin/authenticators/blob", {"blob": upload()})) == expected
    assert state(app) == before


def test_loading_needs_a_fresh_verification(app: Flask, admin: Api, clock: Clock) -> None:
    stale(clock, app)
    before = state(app)
    answer = admin.post("/api/admin/authenticators/blob", {"blob": blob()})
    assert error(answer) == (401, "reauth_required")
    assert state(app) == before
    assert admin.get("/api/admin/authenticators").status_code == 200  # reading needs none


def test_the_allow_list_policy_marks_the_models(app: Flask, admin: Api) -> None:
    assert admin.post("/api/admin/authenticators/blob", {"blob": blob()}).status_code == 200
    changed = admin.patch(
        "/api/admin/policy",
        {"ALLOWED_AUTHENTICATORS": [str(GOOD), str(SOFT)], "ATTESTATION_REQUIRED": True},
    )
    assert changed.status_code == 200, changed.get_json()
    body = admin.get("/api/admin/authenticators").get_json()
    assert body["attestation_required"] is True
    allowed = sorted(m["aaguid"] for m in body["authenticators"] if m["allowed"])
    assert allowed == sorted([str(GOOD), str(SOFT)])


@pytest.mark.parametrize(
    "value", [["ABCDEF00-2222-4333-8444-555555555555"], ["yubikey"], "not a list"]
)
def test_the_allow_list_policy_takes_lowercase_uuids_only(
    app: Flask, admin: Api, value: Any
) -> None:
    before = state(app)
    answer = admin.patch("/api/admin/policy", {"ALLOWED_AUTHENTICATORS": value})
    assert error(answer) == (400, "invalid_input")
    assert "ALLOWED_AUTHENTICATORS" in answer.get_json()["message"]
    assert state(app) == before
