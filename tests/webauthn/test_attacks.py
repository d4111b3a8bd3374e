"""Attack tests: one per relying-party check, through the real JSON API.

Each asserts the status, the error code and that nothing lasting changed (``snapshot``); a
refused sign-in (or sign-up) also sets no session cookie and leaves the browser signed out.
The ``ceremony`` fixture runs an attack against each ceremony it applies to: sign-up,
add-device, username-first and usernameless sign-in.

Past 400 lines on purpose: one attack per check, each standing alone.
"""

from __future__ import annotations

import copy
import json
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from fido2 import cbor
from flask import Flask
from sqlalchemy.orm import Session

from core.db import ENGINE_KEY
from core.models import AuditEvent
from tests.conftest import ORIGIN, Api, snapshot
from tools.softauthn import HONEST, SoftAuthenticator, Tamper, b64u, b64u_decode

SESSION_COOKIE = "keystead_session"
BROWSER_COOKIE = "keystead_browser"
REGISTRATIONS = ("sign_up", "add_device")
SIGN_INS = ("username_first", "usernameless")
REGISTRATION_FAILED = (400, "registration_failed")
AUTHENTICATION_FAILED = (401, "authentication_failed")
INVALID_INPUT = (400, "invalid_input")


def session_cookie_set(response: Any) -> bool:
    return any(
        header.startswith(f"{SESSION_COOKIE}=") for header in response.headers.getlist("Set-Cookie")
    )


def assert_error(response: Any, expected: tuple[int, str]) -> None:
    assert (response.status_code, (response.get_json() or {}).get("error")) == expected, (
        response.get_data(as_text=True)
    )


def audit_events(app: Flask, kind: str) -> list[AuditEvent]:
    with Session(app.extensions[ENGINE_KEY]) as db:
        return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.kind == kind)))


def set_device_status(app: Flask, status: str) -> None:
    with app.extensions[ENGINE_KEY].begin() as conn:
        conn.execute(sa.text("UPDATE devices SET status = :s"), {"s": status})


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Adding a device needs a user verification within REAUTH_MAX_AGE; here the ceremonies'
    own checks are under attack, so a session stays fresh longer than a challenge lives (the
    expiry tests move the clock past CHALLENGE_TTL)."""
    return {"REAUTH_MAX_AGE": 3600}


class Ceremony:
    """One ceremony, set up so that its next response is the attacker's move: for sign-in,
    alice exists and the browser is signed out; for add-device, alice is signed in."""

    def __init__(self, name: str, api: Api, authenticator: SoftAuthenticator) -> None:
        self.name, self.api, self.authenticator = name, api, authenticator
        self.new_username = "mallory"
        if name != "sign_up":
            assert api.sign_up(authenticator).status_code == 201
        if name in SIGN_INS:
            assert api.post("/api/logout").status_code == 204
        # The authenticator that answers: a new one to register, alice's to sign in.
        self.device = SoftAuthenticator(origin=ORIGIN) if self.registers else authenticator

    @property
    def registers(self) -> bool:
        return self.name in REGISTRATIONS

    @property
    def paths(self) -> tuple[str, str]:
        return {
            "sign_up": ("/api/register/begin", "/api/register/complete"),
            "add_device": ("/api/devices/register/begin", "/api/devices/register/complete"),
        }.get(self.name, ("/api/authenticate/begin", "/api/authenticate/complete"))

    @property
    def failure(self) -> tuple[int, str]:
        return REGISTRATION_FAILED if self.registers else AUTHENTICATION_FAILED

    @property
    def success(self) -> int:
        return 201 if self.registers else 200

    def begin(self, api: Api | None = None) -> dict[str, Any]:
        body = {
            "sign_up": {"username": self.new_username, "email": "mallory@example.com"},
            "username_first": {"username": "alice"},
        }.get(self.name, {})
        response = (api or self.api).post(self.paths[0], body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def respond(
        self, options: dict[str, Any], tamper: Tamper = HONEST, credential_id: bytes | None = None
    ) -> dict[str, Any]:
        if self.registers:
            return self.device.create(options, credential_id=credential_id, tamper=tamper)
        return self.device.get(options, credential_id=credential_id, tamper=tamper)

    def complete(self, body: Any, api: Api | None = None) -> Any:
        return (api or self.api).post(self.paths[1], body)

    def attempt(self, tamper: Tamper = HONEST, credential_id: bytes | None = None) -> Any:
        return self.complete(self.respond(self.begin(), tamper, credential_id))

    def assert_refused(self, response: Any, expected: tuple[int, str] | None = None) -> None:
        assert_error(response, expected or self.failure)
        assert not session_cookie_set(response)
        signed_in = self.name == "add_device"
        assert self.api.get("/api/me").status_code == (200 if signed_in else 401)


@pytest.fixture(params=REGISTRATIONS + SIGN_INS)
def ceremony(request: pytest.FixtureRequest, api: Api, authenticator: SoftAuthenticator):
    return Ceremony(request.param, api, authenticator)


def refused(
    app: Flask,
    ceremony: Ceremony,
    tamper: Tamper = HONEST,
    expected: tuple[int, str] | None = None,
    credential_id: bytes | None = None,
) -> None:
    """The attack (``tamper``, another ``credential_id``) is refused and changes nothing."""
    before = snapshot(app)
    ceremony.assert_refused(ceremony.attempt(tamper, credential_id), expected)
    assert snapshot(app) == before


# ---- challenges ----------------------------------------------------------------------------


def test_replayed_response_is_refused(app, ceremony):
    body = ceremony.respond(ceremony.begin())
    assert ceremony.complete(body).status_code == ceremony.success
    if ceremony.name != "add_device":
        ceremony.api.post("/api/logout")  # the replay comes later, on a signed-out browser
    before = snapshot(app)
    ceremony.assert_refused(ceremony.complete(body))
    assert snapshot(app) == before


def test_response_to_a_challenge_never_issued_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(challenge=b"\x07" * 32))


def test_challenge_from_another_browser_is_refused(app, ceremony, authenticator):
    other = Api(app.test_client())
    if ceremony.name == "add_device":
        assert other.sign_in(authenticator).status_code == 200  # alice, in a second browser
    body = ceremony.respond(ceremony.begin(api=other))
    before = snapshot(app)
    ceremony.assert_refused(ceremony.complete(body))
    assert snapshot(app) == before


def test_expired_challenge_is_refused(app, ceremony, clock):
    body = ceremony.respond(ceremony.begin())
    clock.advance(app.config["CHALLENGE_TTL"])
    # Time moved for the whole app: a signed-in browser's last-seen time moves on its next
    # request, whatever it asks; the snapshot starts after that.
    ceremony.api.get("/api/me")
    before = snapshot(app)
    ceremony.assert_refused(ceremony.complete(body))
    assert snapshot(app) == before


def test_challenge_just_before_expiry_is_accepted(app, ceremony, clock):
    body = ceremony.respond(ceremony.begin())
    clock.advance(app.config["CHALLENGE_TTL"] - 2)
    assert ceremony.complete(body).status_code == ceremony.success


@pytest.mark.parametrize(
    "issued_by, completed_at, expected",
    [
        ("/api/register/begin", "/api/authenticate/complete", AUTHENTICATION_FAILED),
        ("/api/devices/register/begin", "/api/authenticate/complete", AUTHENTICATION_FAILED),
        ("/api/devices/register/begin", "/api/register/complete", REGISTRATION_FAILED),
        ("/api/authenticate/begin", "/api/register/complete", REGISTRATION_FAILED),
        ("/api/authenticate/begin", "/api/devices/register/complete", REGISTRATION_FAILED),
        ("/api/register/begin", "/api/devices/register/complete", REGISTRATION_FAILED),
    ],
)
def test_challenge_issued_for_another_purpose_is_refused(
    app, signed_in, authenticator, issued_by, completed_at, expected
):
    """The response signs a challenge of one purpose and is posted where another is pending."""
    api = signed_in
    new_user = {"username": "mallory", "email": "mallory@example.com"}
    foreign = api.post(issued_by, new_user if issued_by == "/api/register/begin" else {})
    challenge = b64u_decode(foreign.get_json()["publicKey"]["challenge"])
    begin_path = completed_at.replace("complete", "begin")
    options = api.post(begin_path, new_user if "/api/register/" in begin_path else {}).get_json()
    if "authenticate" in completed_at:
        body = authenticator.get(options, tamper=Tamper(challenge=challenge))
    else:
        body = SoftAuthenticator().create(options, tamper=Tamper(challenge=challenge))
    before = snapshot(app)
    response = api.post(completed_at, body)
    assert_error(response, expected)
    assert not session_cookie_set(response)
    assert snapshot(app) == before


def test_add_device_challenge_of_one_id_cannot_add_to_another(app, api, authenticator):
    assert api.sign_up(authenticator).status_code == 201
    options = api.post("/api/devices/register/begin").get_json()  # begun by alice
    body = SoftAuthenticator().create(options)
    api.post("/api/logout")
    assert api.sign_up(SoftAuthenticator(), username="bob").status_code == 201
    before = snapshot(app)
    assert_error(api.post("/api/devices/register/complete", body), REGISTRATION_FAILED)
    assert snapshot(app) == before


def _post_together(ceremony: Ceremony, clients: list[Any], body: dict[str, Any]) -> list[int]:
    """Posts ``body`` from every client at the same moment; the sorted statuses."""
    barrier = threading.Barrier(len(clients))

    def post(client: Any) -> int:
        barrier.wait()
        return ceremony.complete(body, api=Api(client)).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        return sorted(pool.map(post, clients))


def test_raced_response_succeeds_once(app, ceremony):
    """The same response posted twice at once from the same browser: exactly one wins."""
    for round in range(3):
        ceremony.new_username = f"mallory{round}"
        ceremony.device = SoftAuthenticator() if ceremony.registers else ceremony.device
        body = ceremony.respond(ceremony.begin())
        clients = [app.test_client() for _ in range(2)]
        for client in clients:  # the same browser: the same cookies
            for name in (BROWSER_COOKIE, SESSION_COOKIE):
                cookie = ceremony.api.client.get_cookie(name)
                if cookie is not None:
                    client.set_cookie(name, cookie.value)
        statuses = _post_together(ceremony, clients, body)
        assert statuses == sorted([ceremony.success, ceremony.failure[0]])


# ---- origin, type, client data, RP ID, flags, signature ------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://evil.localhost:5000",
        "http://localhost:5001",
        "https://localhost:5000",
    ],
)
def test_response_from_another_origin_is_refused(app, ceremony, origin):
    refused(app, ceremony, Tamper(origin=origin))


def test_credential_type_other_than_public_key_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(cred_type="password"))


@pytest.mark.parametrize("value", [True, "true", None])
def test_cross_origin_response_is_refused(app, ceremony, value):
    refused(app, ceremony, Tamper(cross_origin=value))


def test_top_origin_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(top_origin=ORIGIN))


def test_swapped_client_data_type_is_refused(app, ceremony):
    swapped = "webauthn.get" if ceremony.registers else "webauthn.create"
    refused(app, ceremony, Tamper(client_type=swapped))


def test_rp_id_hash_of_another_rp_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(rp_id="evil.example"))


def test_response_without_user_presence_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(up=False))


def test_response_without_user_verification_is_refused(app, ceremony):
    assert app.config["USER_VERIFICATION"] == "required"
    refused(app, ceremony, Tamper(uv=False))


@pytest.mark.parametrize("ceremony", SIGN_INS, indirect=True)
def test_bad_signature_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(corrupt_signature=True))


# ---- sign counter --------------------------------------------------------------------------


def test_cloned_authenticator_is_refused_and_flags_the_device(app, api, authenticator):
    assert api.sign_up(authenticator).status_code == 201  # counter 1
    clone = authenticator.clone()
    api.post("/api/logout")
    assert api.sign_in(authenticator).status_code == 200  # the original moves to 2
    api.post("/api/logout")
    before = snapshot(app)

    response = api.sign_in(clone)  # the clone reports 2 again
    assert_error(response, AUTHENTICATION_FAILED)
    assert not session_cookie_set(response)
    assert api.get("/api/me").status_code == 401
    after = snapshot(app)
    assert (after["users"], after["login_sessions"]) == (before["users"], before["login_sessions"])
    [event] = audit_events(app, "device_flagged")
    assert (event.data["stored_count"], event.data["received_count"]) == (2, 2)

    assert api.sign_in(authenticator).status_code == 200  # the real user, counter 3
    [device] = api.get("/api/devices").get_json()["devices"]
    assert device["flagged"] is True
    api.post("/api/logout")
    assert_error(api.sign_in(authenticator, tamper=Tamper(sign_count=3)), AUTHENTICATION_FAILED)
    assert_error(api.sign_in(clone), AUTHENTICATION_FAILED)  # the clone is at 3 too


@pytest.mark.parametrize("ceremony", SIGN_INS, indirect=True)
@pytest.mark.parametrize("count", [0, 1])
def test_counter_that_does_not_increase_is_refused(app, ceremony, count):
    before = snapshot(app)
    ceremony.assert_refused(ceremony.attempt(Tamper(sign_count=count)))
    assert snapshot(app)["login_sessions"] == before["login_sessions"]
    assert len(audit_events(app, "device_flagged")) == 1


def test_counters_that_stay_zero_are_accepted(api):
    authenticator = SoftAuthenticator(counter="zero")
    assert api.sign_up(authenticator).status_code == 201
    for username in ("alice", None, "alice"):
        api.post("/api/logout")
        assert api.sign_in(authenticator, username=username).status_code == 200
    assert api.get("/api/devices").get_json()["devices"][0]["flagged"] is False


# ---- backup flags --------------------------------------------------------------------------


def test_backed_up_without_backup_eligible_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(be=False, bs=True))


@pytest.mark.parametrize("ceremony", SIGN_INS, indirect=True)
def test_backup_eligibility_different_from_registration_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(be=True, bs=True))


def test_backup_eligibility_dropped_at_sign_in_is_refused(app, api):
    authenticator = SoftAuthenticator(backup_eligible=True, backed_up=True)
    assert api.sign_up(authenticator).status_code == 201
    api.post("/api/logout")
    before = snapshot(app)
    assert_error(
        api.sign_in(authenticator, tamper=Tamper(be=False, bs=False)), AUTHENTICATION_FAILED
    )
    assert snapshot(app) == before


# ---- credential ids ------------------------------------------------------------------------


@pytest.mark.parametrize("ceremony", REGISTRATIONS, indirect=True)
def test_credential_id_over_1023_bytes_is_refused(app, ceremony):
    ceremony.device = SoftAuthenticator(cred_id_len=1024)
    refused(app, ceremony)


@pytest.mark.parametrize("ceremony", REGISTRATIONS, indirect=True)
def test_credential_id_of_1023_bytes_is_accepted_and_signs_in(ceremony):
    ceremony.device = SoftAuthenticator(cred_id_len=1023)
    assert ceremony.attempt().status_code == 201
    ceremony.api.post("/api/logout")
    username = "mallory" if ceremony.name == "sign_up" else "alice"
    assert ceremony.api.sign_in(ceremony.device, username=username).status_code == 200


@pytest.mark.parametrize("ceremony", REGISTRATIONS, indirect=True)
def test_credential_id_registered_to_another_id_is_refused(app, ceremony):
    bob = Api(app.test_client())
    bobs_key = SoftAuthenticator()
    assert bob.sign_up(bobs_key, username="bob").status_code == 201
    [bobs_credential] = bobs_key.credentials
    refused(app, ceremony, credential_id=bobs_credential)


@pytest.mark.parametrize("ceremony", REGISTRATIONS, indirect=True)
def test_attested_id_different_from_raw_id_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(raw_id=b"\x01" * 32))


def test_id_different_from_raw_id_is_invalid_input(app, ceremony):
    refused(app, ceremony, Tamper(response_id=b64u(b"\x02" * 32)), INVALID_INPUT)


def test_credential_of_one_id_cannot_finish_a_sign_in_begun_for_another(app, api, authenticator):
    assert api.sign_up(authenticator).status_code == 201
    api.post("/api/logout")
    assert api.sign_up(SoftAuthenticator(), username="bob").status_code == 201
    api.post("/api/logout")
    [alices_credential] = authenticator.credentials
    options = api.post("/api/authenticate/begin", {"username": "bob"}).get_json()
    before = snapshot(app)
    response = api.post(
        "/api/authenticate/complete", authenticator.get(options, credential_id=alices_credential)
    )
    assert_error(response, AUTHENTICATION_FAILED)
    assert not session_cookie_set(response)
    assert snapshot(app) == before


def test_credential_cannot_finish_a_sign_in_begun_for_an_unknown_username(
    app, signed_in, authenticator
):
    signed_in.post("/api/logout")
    options = signed_in.post("/api/authenticate/begin", {"username": "nobody"}).get_json()
    [alices_credential] = authenticator.credentials
    before = snapshot(app)
    response = signed_in.post(
        "/api/authenticate/complete", authenticator.get(options, credential_id=alices_credential)
    )
    assert_error(response, AUTHENTICATION_FAILED)
    assert snapshot(app) == before


@pytest.mark.parametrize("ceremony", SIGN_INS, indirect=True)
def test_user_handle_of_another_id_is_refused(app, ceremony):
    bobs_key = SoftAuthenticator()
    assert Api(app.test_client()).sign_up(bobs_key, username="bob").status_code == 201
    [bobs_credential] = bobs_key.credentials.values()
    refused(app, ceremony, Tamper(user_handle=bobs_credential.user_handle))


@pytest.mark.parametrize("ceremony", ["usernameless"], indirect=True)
def test_usernameless_sign_in_without_user_handle_is_refused(app, ceremony):
    refused(app, ceremony, Tamper(user_handle=None))


@pytest.mark.parametrize("ceremony", ["username_first"], indirect=True)
def test_username_first_sign_in_without_user_handle_is_accepted(ceremony):
    assert ceremony.attempt(Tamper(user_handle=None)).status_code == 200


@pytest.mark.parametrize("ceremony", SIGN_INS, indirect=True)
def test_blocked_device_cannot_sign_in(app, ceremony):
    set_device_status(app, "blocked")
    options = ceremony.api.post("/api/authenticate/begin", {"username": "alice"}).get_json()
    [alices_credential] = ceremony.device.credentials
    assert b64u(alices_credential) not in [
        d["id"] for d in options["publicKey"]["allowCredentials"]
    ]
    before = snapshot(app)
    ceremony.assert_refused(
        ceremony.attempt(credential_id=alices_credential), (401, "device_blocked")
    )
    assert snapshot(app) == before
    assert len(audit_events(app, "sign_in_failed")) == 1


@pytest.mark.parametrize("ceremony", SIGN_INS, indirect=True)
def test_a_forged_attempt_with_a_blocked_devices_id_writes_no_audit_row(app, ceremony):
    """The credential id is public (it was in allowCredentials): without the key, nobody may
    use it to write into the ID's audit trail."""
    set_device_status(app, "blocked")
    [alices_credential] = ceremony.device.credentials
    ceremony.assert_refused(ceremony.attempt(Tamper(corrupt_signature=True), alices_credential))
    assert audit_events(app, "sign_in_failed") == []


# ---- algorithms ----------------------------------------------------------------------------


def with_cose_key(body: dict[str, Any], changes: dict[int, Any]) -> dict[str, Any]:
    """The registration response with labels of its COSE key replaced (nothing signs the key
    under attestation "none", so the forgery stays well-formed)."""
    body = copy.deepcopy(body)
    attestation = cbor.decode(b64u_decode(body["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    (id_length,) = struct.unpack_from(">H", auth_data, 53)
    key = {**cbor.decode(auth_data[55 + id_length :]), **changes}
    attestation["authData"] = auth_data[: 55 + id_length] + cbor.encode(key)
    body["response"]["attestationObject"] = b64u(cbor.encode(attestation))
    return body


@pytest.mark.parametrize("ceremony", REGISTRATIONS, indirect=True)
@pytest.mark.parametrize("alg", [-35, -36, -65535])  # ES384, ES512, RS1: never offered
def test_algorithm_not_offered_is_refused(app, ceremony, alg):
    body = with_cose_key(ceremony.respond(ceremony.begin()), {3: alg})
    before = snapshot(app)
    ceremony.assert_refused(ceremony.complete(body))
    assert snapshot(app) == before


@pytest.mark.parametrize("ceremony", REGISTRATIONS, indirect=True)
def test_public_key_off_the_curve_is_refused(app, ceremony):
    body = with_cose_key(ceremony.respond(ceremony.begin()), {-2: b"\x01" * 32})
    before = snapshot(app)
    ceremony.assert_refused(ceremony.complete(body))
    assert snapshot(app) == before


# ---- malformed input -----------------------------------------------------------------------


class Raw(bytes):
    """A body sent as these bytes (Content-Type still application/json)."""


def _set(path: str, value: Any) -> Any:
    def edit(body: dict[str, Any], binary: str) -> Any:
        body = copy.deepcopy(body)
        if path == "ids":  # id and rawId, both the same wrong value
            body["id"] = body["rawId"] = value
            return body
        *parents, last = path.replace("BINARY", binary).split(".")
        target = body
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
        return body

    return edit


def _truncated(body: dict[str, Any], binary: str) -> Any:
    data = b64u_decode(body["response"][binary])
    cut = data[:-5] if binary == "attestationObject" else data[:36]
    return _set(f"response.{binary}", b64u(cut))(body, binary)


_DELETE = object()
MALFORMED_RESPONSES = [
    pytest.param(lambda b, _: Raw(b'{"id": '), id="bad-json"),
    pytest.param(lambda b, _: Raw(b"null"), id="null"),
    pytest.param(lambda b, _: [b], id="list"),
    pytest.param(lambda b, _: "public-key", id="string"),
    pytest.param(_set("response", _DELETE), id="no-response"),
    pytest.param(_set("response", ["x"]), id="response-list"),
    pytest.param(_set("rawId", _DELETE), id="no-rawId"),
    pytest.param(_set("id", _DELETE), id="no-id"),
    pytest.param(_set("type", _DELETE), id="no-type"),
    pytest.param(_set("type", 1), id="type-number"),
    pytest.param(_set("ids", 10**9), id="rawId-huge-number"),
    pytest.param(_set("ids", [1, 2, 3]), id="rawId-list"),
    pytest.param(_set("ids", "!!!!"), id="rawId-bad-base64url"),
    pytest.param(_set("id", b64u(b"\x05" * 32)), id="id-not-rawId"),
    pytest.param(_set("response.clientDataJSON", _DELETE), id="no-clientData"),
    pytest.param(_set("response.clientDataJSON", 5), id="clientData-number"),
    pytest.param(_set("response.clientDataJSON", "*** ***"), id="clientData-bad-base64url"),
    pytest.param(_set("response.clientDataJSON", b64u(b"not json")), id="clientData-not-json"),
    pytest.param(_set("response.clientDataJSON", b64u(b"[" * 5000)), id="clientData-deep"),
    pytest.param(
        _set("response.clientDataJSON", b64u(b'{"type": 1, "challenge": [], "origin": null}')),
        id="clientData-wrong-types",
    ),
    pytest.param(_set("response.BINARY", _DELETE), id="no-binary"),
    pytest.param(_set("response.BINARY", {}), id="binary-object"),
    pytest.param(_set("response.BINARY", "$$$$"), id="binary-bad-base64url"),
    pytest.param(_set("response.BINARY", b64u(b"\xff" * 40)), id="binary-garbage"),
    pytest.param(_set("response.BINARY", b64u(b"\x81" * 30000)), id="binary-deep"),
    pytest.param(_truncated, id="binary-truncated"),
]
COMPLETE_PATHS = (
    "/api/register/complete",
    "/api/devices/register/complete",
    "/api/authenticate/complete",
)


def _valid_response(api: Api, authenticator: SoftAuthenticator, path: str) -> dict[str, Any]:
    begin = path.replace("complete", "begin")
    if path == "/api/authenticate/complete":
        return authenticator.get(api.post(begin, {"username": "alice"}).get_json())
    body = {"username": "mallory", "email": "m@example.com"} if "/api/register" in path else {}
    return SoftAuthenticator().create(api.post(begin, body).get_json())


def _send(api: Api, path: str, body: Any, method: str = "POST") -> Any:
    if isinstance(body, Raw):
        return api.client.open(
            path,
            method=method,
            data=bytes(body),
            content_type="application/json",
            headers={"Origin": ORIGIN},
        )
    return api.client.open(path, method=method, json=body, headers={"Origin": ORIGIN})


@pytest.mark.parametrize("path", COMPLETE_PATHS)
@pytest.mark.parametrize("malform", MALFORMED_RESPONSES)
def test_malformed_response_is_invalid_input(app, signed_in, authenticator, path, malform):
    valid = _valid_response(signed_in, authenticator, path)
    binary = "authenticatorData" if "authenticate" in path else "attestationObject"
    before = snapshot(app)
    response = _send(signed_in, path, malform(valid, binary))
    assert_error(response, INVALID_INPUT)
    assert not session_cookie_set(response)
    assert snapshot(app) == before
    # Malformed input is refused before the challenge is consumed: the genuine answer still works.
    assert signed_in.post(path, valid).status_code == (200 if "authenticate" in path else 201)


@pytest.mark.parametrize(
    "malform",
    [
        pytest.param(_set("response.signature", _DELETE), id="no-signature"),
        pytest.param(_set("response.signature", 5), id="signature-number"),
        pytest.param(_set("response.signature", "%%%%"), id="signature-bad-base64url"),
        pytest.param(_set("response.userHandle", 7), id="userHandle-number"),
        pytest.param(_set("response.userHandle", "a b c d"), id="userHandle-bad-base64url"),
    ],
)
def test_malformed_assertion_is_invalid_input(app, signed_in, authenticator, malform):
    path = "/api/authenticate/complete"
    valid = _valid_response(signed_in, authenticator, path)
    before = snapshot(app)
    assert_error(_send(signed_in, path, malform(valid, "authenticatorData")), INVALID_INPUT)
    assert snapshot(app) == before


@pytest.mark.parametrize("path", ["/api/register/complete", "/api/devices/register/complete"])
@pytest.mark.parametrize("name", [5, ["x"], "x" * 65])
def test_malformed_device_name_is_invalid_input(app, signed_in, authenticator, path, name):
    valid = _valid_response(signed_in, authenticator, path)
    before = snapshot(app)
    assert_error(signed_in.post(path, {**valid, "device_name": name}), INVALID_INPUT)
    assert snapshot(app) == before


# Every endpoint that reads a JSON body; "{device}" is alice's device id.
JSON_ENDPOINTS = [
    ("POST", "/api/register/begin"),
    ("POST", "/api/register/complete"),
    ("POST", "/api/authenticate/begin"),
    ("POST", "/api/authenticate/complete"),
    ("POST", "/api/devices/register/begin"),
    ("POST", "/api/devices/register/complete"),
    ("PATCH", "/api/devices/{device}"),
]
STATE_CHANGING = [*JSON_ENDPOINTS, ("POST", "/api/logout"), ("DELETE", "/api/devices/{device}")]


def _device_path(api: Api, path: str) -> str:
    return path.format(device=api.get("/api/devices").get_json()["devices"][0]["id"])


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(Raw(b"{"), id="bad-json"),
        pytest.param(Raw(b""), id="empty"),
        pytest.param(Raw(b"\xff\xfe{}"), id="not-utf8"),
        pytest.param(Raw(b"null"), id="null"),
        pytest.param(Raw(b"[]"), id="list"),
        pytest.param(Raw(b'"x"'), id="string"),
        pytest.param(Raw(b"12"), id="number"),
    ],
)
def test_body_that_is_not_a_json_object_is_invalid_input(app, signed_in, method, path, body):
    path = _device_path(signed_in, path)
    before = snapshot(app)
    assert_error(_send(signed_in, path, body, method), INVALID_INPUT)
    assert snapshot(app) == before


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
def test_deeply_nested_json_body_is_invalid_input(app, signed_in, method, path):
    path = _device_path(signed_in, path)
    before = snapshot(app)
    assert_error(_send(signed_in, path, Raw(b"[" * 20000 + b"]" * 20000), method), INVALID_INPUT)
    assert snapshot(app) == before


NEW_USER = {"username": "mallory", "email": "m@example.com"}


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/api/register/begin", {**NEW_USER, "username": 5}),
        ("POST", "/api/register/begin", {**NEW_USER, "username": ["mallory"]}),
        ("POST", "/api/register/begin", {**NEW_USER, "username": None}),
        ("POST", "/api/register/begin", {"email": "m@example.com"}),
        ("POST", "/api/register/begin", {"username": "mallory"}),
        ("POST", "/api/register/begin", {**NEW_USER, "email": {"a": 1}}),
        ("POST", "/api/register/begin", {**NEW_USER, "display_name": 5}),
        ("POST", "/api/register/begin", {**NEW_USER, "username": "ma"}),
        ("POST", "/api/register/begin", {**NEW_USER, "username": "m" * 65}),
        ("POST", "/api/register/begin", {**NEW_USER, "username": "mal lory"}),
        ("POST", "/api/register/begin", {**NEW_USER, "username": "mallöry"}),
        ("POST", "/api/register/begin", {**NEW_USER, "email": "not-an-address"}),
        ("POST", "/api/register/begin", {**NEW_USER, "display_name": "two\nlines"}),
        ("POST", "/api/register/begin", {**NEW_USER, "display_name": "d" * 129}),
        ("POST", "/api/authenticate/begin", {"username": 5}),
        ("POST", "/api/authenticate/begin", {"username": {"$ne": ""}}),
        ("POST", "/api/authenticate/begin", {"username": "   "}),
        ("POST", "/api/authenticate/begin", {"username": "a" * 255}),
        ("PATCH", "/api/devices/{device}", {}),
        ("PATCH", "/api/devices/{device}", {"name": 5}),
        ("PATCH", "/api/devices/{device}", {"name": "  "}),
        ("PATCH", "/api/devices/{device}", {"name": "n" * 65}),
    ],
)
def test_wrong_fields_are_invalid_input(app, signed_in, method, path, body):
    path = _device_path(signed_in, path)
    before = snapshot(app)
    assert_error(_send(signed_in, path, body, method), INVALID_INPUT)
    assert snapshot(app) == before


@pytest.mark.parametrize("method, path", STATE_CHANGING)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_body_that_is_not_json_is_unsupported_media_type(
    app, signed_in, method, path, content_type
):
    assert signed_in.add_device(SoftAuthenticator()).status_code == 201  # so DELETE could work
    path = _device_path(signed_in, path)
    before = snapshot(app)
    response = signed_in.client.open(
        path,
        method=method,
        data=json.dumps({"name": "x"}),
        content_type=content_type,
        headers={"Origin": ORIGIN},
    )
    assert_error(response, (415, "unsupported_media_type"))
    assert snapshot(app) == before


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
def test_body_over_64_kib_is_refused(app, signed_in, method, path):
    path = _device_path(signed_in, path)
    before = snapshot(app)
    response = _send(signed_in, path, {"username": "x" * (64 * 1024)}, method)
    assert_error(response, (413, "payload_too_large"))
    assert snapshot(app) == before


@pytest.mark.parametrize("method, path", STATE_CHANGING)
@pytest.mark.parametrize(
    "origin",
    [
        None,
        "https://evil.example",
        "null",
        "http://localhost:5001",
        "https://localhost:5000",
        "http://evil.localhost:5000",
    ],
)
def test_state_change_without_our_origin_is_refused(app, signed_in, method, path, origin):
    assert signed_in.add_device(SoftAuthenticator()).status_code == 201  # so DELETE could work
    path = _device_path(signed_in, path)
    before = snapshot(app)
    headers = {} if origin is None else {"Origin": origin}
    response = signed_in.client.open(path, method=method, json={"name": "x"}, headers=headers)
    assert_error(response, (403, "csrf_failed"))
    assert snapshot(app) == before
    assert signed_in.get("/api/me").status_code == 200


# ---- unknown usernames ---------------------------------------------------------------------


def test_unknown_username_gets_an_answer_shaped_like_a_real_one(signed_in):
    api = signed_in
    api.post("/api/logout")

    def begin(username: str) -> dict[str, Any]:
        return api.post("/api/authenticate/begin", {"username": username}).get_json()["publicKey"]

    real, ghost, again, other = begin("alice"), begin("nobody"), begin("NOBODY"), begin("nemo")
    assert ghost.keys() == real.keys()
    assert ghost["allowCredentials"]
    assert all(d.keys() == real["allowCredentials"][0].keys() for d in ghost["allowCredentials"])
    ids = [d["id"] for d in ghost["allowCredentials"]]
    assert ids == [d["id"] for d in again["allowCredentials"]]
    assert ghost["challenge"] != again["challenge"]
    assert not set(ids) & {d["id"] for d in other["allowCredentials"]}
    assert not set(ids) & {d["id"] for d in real["allowCredentials"]}
