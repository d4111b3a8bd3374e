"""The baseline: a bare python-fido2 + Flask server with Keystead's four ceremony endpoints.

Shaped like python-fido2's ``examples/server``: the ceremony state lives in Flask's signed
cookie session, credentials in one SQLite table, and there is no other bookkeeping (no
server-side challenges, sessions, counters, origin or CSRF checks, rate limits or audit). It
speaks the same JSON contract as Keystead, so the same load drives both, and it uses the same
SQLite settings as ``core/db.py`` (WAL, ``synchronous=NORMAL``, busy timeout) and the same
default user verification (``required``), so the comparison is about what Keystead adds.

Served by ``bench.run`` as ``gunicorn 'bench.bare_server:create_app()'`` with
``BENCH_BARE_DATABASE`` (path of the SQLite file, created by ``init_db``), ``BENCH_BARE_SECRET``
(the cookie signing key, shared by the workers) and ``BENCH_BARE_RP_ID`` (default ``localhost``).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestedCredentialData,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from flask import Flask, jsonify, request, session

SCHEMA = """
CREATE TABLE IF NOT EXISTS credential (
    credential_id BLOB PRIMARY KEY,
    username TEXT NOT NULL COLLATE NOCASE,
    user_handle BLOB NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    credential_data BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_credential_username ON credential (username);
"""


# A row, everywhere below, is in this column order.
SELECT_BY_USERNAME = (
    "SELECT credential_id, user_handle, email, display_name, credential_data, created_at, username"
    " FROM credential WHERE username = ?"
)
INSERT = (
    "INSERT INTO credential (credential_id, user_handle, email, display_name, credential_data,"
    " created_at, username) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)  # autocommit
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def init_db(path: str) -> None:
    """Create the one table; run once before the workers start (like ``flask db upgrade``)."""
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
    finally:
        conn.close()


class BadRequest(Exception):
    status = 400
    code = "invalid_input"


class Unauthorized(BadRequest):
    status = 401
    code = "authentication_failed"


def create_app() -> Flask:
    db_path = os.environ["BENCH_BARE_DATABASE"]
    rp_id = os.environ.get("BENCH_BARE_RP_ID", "localhost")
    app = Flask(__name__)
    app.secret_key = os.environ["BENCH_BARE_SECRET"]
    # fido2's default origin check: the RP ID's host (and http://localhost on any port).
    server = Fido2Server(PublicKeyCredentialRpEntity(name="Bare", id=rp_id))
    uv = UserVerificationRequirement.REQUIRED
    local = threading.local()  # one connection per worker thread, opened after the fork

    def db() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect(db_path)
        return conn

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object")
        return data

    def rows_for(username: str) -> list[tuple[Any, ...]]:
        return db().execute(SELECT_BY_USERNAME, (username,)).fetchall()

    def answer(row: tuple[Any, ...], status: int) -> Any:
        cred_id, handle, email, display_name, _data, created_at, username = row
        user = {
            "id": websafe_encode(handle),
            "username": username,
            "email": email,
            "display_name": display_name,
        }
        device = {"id": websafe_encode(cred_id), "name": "Passkey", "created_at": created_at}
        return jsonify(user=user, device=device), status

    @app.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest) -> Any:
        return jsonify(error=exc.code, message=str(exc)), exc.status

    @app.post("/api/register/begin")
    def register_begin() -> Any:
        data = body()
        username, email = data.get("username"), data.get("email")
        display_name = data.get("display_name") or username
        if not (isinstance(username, str) and username and isinstance(email, str)):
            raise BadRequest("username and email are required")
        if rows_for(username):
            return jsonify(error="username_taken", message="username taken"), 409
        handle = secrets.token_bytes(32)
        options, state = server.register_begin(
            PublicKeyCredentialUserEntity(name=username, id=handle, display_name=display_name),
            resident_key_requirement=ResidentKeyRequirement.PREFERRED,
            user_verification=uv,
        )
        session["state"] = state
        session["user"] = {
            "username": username,
            "email": email,
            "display_name": display_name,
            "handle": websafe_encode(handle),
        }
        return jsonify(dict(options))

    @app.post("/api/register/complete")
    def register_complete() -> Any:
        data = body()
        state, user = session.pop("state", None), session.pop("user", None)
        if state is None or user is None:
            raise BadRequest("no registration in progress")
        try:
            auth_data = server.register_complete(state, data)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest(str(exc)) from exc
        cred = auth_data.credential_data
        assert cred is not None  # noqa: S101 (fido2 guarantees it on registration)
        row = (
            cred.credential_id,
            websafe_decode(user["handle"]),
            user["email"],
            user["display_name"],
            bytes(cred),
            datetime.now(UTC).isoformat(),
            user["username"],
        )
        try:
            db().execute(INSERT, row)
        except sqlite3.IntegrityError as exc:
            raise BadRequest("credential already registered") from exc
        return answer(row, 201)

    @app.post("/api/authenticate/begin")
    def authenticate_begin() -> Any:
        username = body().get("username")
        rows = rows_for(username) if isinstance(username, str) else []
        credentials = [AttestedCredentialData(row[4]) for row in rows]
        options, state = server.authenticate_begin(credentials, user_verification=uv)
        session["state"] = state
        session["username"] = username if rows else None
        return jsonify(dict(options))

    @app.post("/api/authenticate/complete")
    def authenticate_complete() -> Any:
        data = body()
        state, username = session.pop("state", None), session.pop("username", None)
        if state is None or username is None:
            raise Unauthorized("no sign-in in progress")
        rows = rows_for(username)
        credentials = [AttestedCredentialData(row[4]) for row in rows]
        try:
            cred = server.authenticate_complete(state, credentials, data)
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized(str(exc)) from exc
        row = next(r for r in rows if r[0] == cred.credential_id)
        return answer(row, 200)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(ok=True)

    return app
