"""Fixtures in the shape of Flask's tutorial: ``app``, ``client``, ``db``, plus ``authenticator``
and ``auth`` (sign up / sign in helpers over the real JSON API).

The suite runs on a SQLite file by default and on any database named by
``KEYSTEAD_TEST_DATABASE_URL``. The schema is built once per run by the Alembic migrations (so
they are exercised on every run) and every table is emptied before each test.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from core import db as database
from core.db import Base
from notify.models import OutboxMail
from tests.clock import clock_fixture  # noqa: F401 - the ``clock`` fixture, for every test
from tests.mail import SERVER, SMTP_HOST, SMTP_PORT, mailbox, smtp_server  # noqa: F401
from tools.softauthn import HONEST, SoftAuthenticator, Tamper

ORIGIN = "http://localhost:5000"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("KEYSTEAD_TEST_DATABASE_URL")
    if not url:
        # tmp_path_factory is per xdist worker: each worker has its own file.
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "keystead-test.db")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _worker_database(url, worker) if worker else url


def _worker_database(url: str, worker: str) -> str:
    """Under pytest-xdist each worker gets its own database on the same server
    (``<name>_<worker>``, created on first use), so workers never empty each other's tables."""
    base = sa.engine.make_url(url)
    name = f"{base.database}_{worker}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    app = create_app(base_config(database_url, tmp_path_factory.mktemp("instance")))
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    database.upgrade(app)
    return database_url


def base_config(database_url: str, instance: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "ENV": "production",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "RP_ID": "localhost",
        "RP_NAME": "Keystead Test",
        "ORIGIN": ORIGIN,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False,
        # Mail goes to tests/mail.py's SMTP server; a worker runs only under the ``mailbox``
        # fixture, so without it mail waits in the outbox.
        "MAIL_SERVER": SMTP_HOST,
        "MAIL_PORT": SMTP_PORT,
        "MAIL_WORKER": False,
    }


_SEQUENCES: dict[str, list[str]] = {}


def empty_tables(app: Flask) -> None:
    """Every table emptied, children first, and on PostgreSQL every id sequence restarted, in
    one round trip. DELETE, not TRUNCATE: on tables this small TRUNCATE cost about 200 ms a
    test (it makes every table anew), a tenth of the suite's time on PostgreSQL; DELETE costs
    about 20. A request a live server is still answering for the previous browser test can
    still lock against it and PostgreSQL then ends one side as a deadlock: this side tries
    again, a few times."""
    engine = app.extensions[database.ENGINE_KEY]
    tables = list(reversed(Base.metadata.sorted_tables))
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    sequences = _SEQUENCES.get(str(engine.url))
                    if sequences is None:
                        sequences = _SEQUENCES[str(engine.url)] = list(
                            conn.scalars(
                                sa.text(
                                    "SELECT sequencename FROM pg_sequences"
                                    " WHERE schemaname = current_schema()"
                                )
                            )
                        )
                    statements = [f"DELETE FROM {table.name}" for table in tables]
                    statements += [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
                    conn.exec_driver_sql("; ".join(statements))
                else:
                    for table in tables:
                        conn.execute(table.delete())
            return
        except sa.exc.OperationalError as error:
            if "deadlock detected" not in str(error.orig) or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture
def config_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Configuration for the ``app`` fixture on top of ``base_config``: parametrize it
    indirectly (``@pytest.mark.parametrize("config_overrides", [{...}], indirect=True)``)."""
    return dict(getattr(request, "param", {}))


class BufferedClient(FlaskClient):
    """Reads each response to its end and closes it, as a WSGI server does; otherwise a
    static file's handle stays open until garbage collection (a ResourceWarning, which
    ``filterwarnings = ["error"]`` makes a failure)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def app(migrated: str, tmp_path: Path, config_overrides: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**base_config(migrated, tmp_path), **config_overrides})
    app.test_client_class = BufferedClient
    empty_tables(app)
    yield app
    app.extensions[database.ENGINE_KEY].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser at ORIGIN: it sends the Origin header browsers send on state-changing calls."""
    return app.test_client()


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


class Api:
    """The JSON API as a browser page calls it."""

    def __init__(self, client: FlaskClient, origin: str = ORIGIN) -> None:
        self.client = client
        self.origin = origin

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        headers = {"Origin": self.origin, **kwargs.pop("headers", {})}
        return self.client.post(
            path, json=body if body is not None else {}, headers=headers, **kwargs
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, json=body, headers={"Origin": self.origin})

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers={"Origin": self.origin})

    def get(self, path: str) -> Any:
        return self.client.get(path)

    # -- ceremonies --
    def sign_up(
        self,
        authenticator: SoftAuthenticator,
        username: str = "alice",
        email: str | None = None,
        device_name: str = "Alice's laptop",
        confirm_email: bool = True,
        credential_id: bytes | None = None,
        tamper: Tamper = HONEST,
    ) -> Any:
        """Signs up; unless ``confirm_email=False``, the new ID's address is then confirmed
        with the code sign-up mailed, and that mail is taken away (from the outbox, or from
        the SMTP server if it went out already), so tests start with a confirmed address and
        an empty mailbox, as before addresses needed confirming."""
        begin = self.post(
            "/api/register/begin",
            {"username": username, "email": email or f"{username}@example.com"},
        )
        assert begin.status_code == 200, begin.get_json()
        body = authenticator.create(begin.get_json(), credential_id=credential_id, tamper=tamper)
        response = self.post("/api/register/complete", {**body, "device_name": device_name})
        if confirm_email and response.status_code == 201:
            code = take_sign_up_code(self.client.application, response.get_json()["user"]["id"])
            confirmed = self.post("/api/me/email/confirm", {"otp": code})
            assert confirmed.status_code == 200, confirmed.get_json()
        return response

    def sign_in(
        self,
        authenticator: SoftAuthenticator,
        username: str | None = "alice",
        tamper: Tamper = HONEST,
    ) -> Any:
        begin = self.post(
            "/api/authenticate/begin", {} if username is None else {"username": username}
        )
        assert begin.status_code == 200, begin.get_json()
        body = authenticator.get(begin.get_json(), tamper=tamper)
        return self.post("/api/authenticate/complete", body)

    def add_device(
        self,
        authenticator: SoftAuthenticator,
        device_name: str = "Second key",
        tamper: Tamper = HONEST,
    ) -> Any:
        begin = self.post("/api/devices/register/begin", {"device_name": device_name})
        assert begin.status_code == 200, begin.get_json()
        body = authenticator.create(begin.get_json(), tamper=tamper)
        return self.post("/api/devices/register/complete", {**body, "device_name": device_name})


OTP_LINE = re.compile(r"^\s+(\d{6,10})\s*$", re.M)


def take_sign_up_code(app: Flask, user_id: int) -> str:
    """The code sign-up mailed to ``user_id``'s address; the mail itself never reaches the
    test's mailbox (claimed in the outbox before a worker sends it, or discarded after)."""
    engine = app.extensions[database.ENGINE_KEY]
    mail = OutboxMail.__table__
    query = sa.select(mail.c.id, mail.c.text_body, mail.c.recipient).where(
        mail.c.user_id == user_id, mail.c.kind == "email_code_verify_email"
    )
    with engine.begin() as conn:
        row = conn.execute(query.order_by(mail.c.id.desc()).limit(1)).first()
        assert row is not None, "sign-up mailed no code"
        now = datetime.now(UTC)
        claimed = conn.execute(
            sa.update(mail)
            .where(mail.c.id == row.id, mail.c.sent_at.is_(None))
            .where(sa.or_(mail.c.claimed_until.is_(None), mail.c.claimed_until < now))
            .values(sent_at=now, claimed_until=now, text_body="", html_body="")
        ).rowcount
    if claimed == 1:
        found = OTP_LINE.search(row.text_body)
        assert found, row.text_body
        return found.group(1)
    # A delivery worker took it first: it arrives at the SMTP server (other mail to the same
    # address may arrive before it; earlier sign-up codes were discarded when taken).
    deadline = time.monotonic() + 5
    while True:
        arrived = [
            m
            for m in SERVER.wait_for(to=row.recipient)
            if "confirm your email address" in str(m["Subject"])
        ]
        if arrived:
            break
        assert time.monotonic() < deadline, "the sign-up code never reached the SMTP server"
        time.sleep(0.05)
    message = arrived[-1]
    SERVER.discard(message)
    found = OTP_LINE.search(SERVER.text(message))
    assert found
    return found.group(1)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


@pytest.fixture
def signed_in(api: Api, authenticator: SoftAuthenticator) -> Api:
    """alice, signed up (and so signed in) with ``authenticator``."""
    response = api.sign_up(authenticator)
    assert response.status_code == 201, response.get_json()
    return api


@pytest.fixture
def two_devices(app: Any, signed_in: Api, authenticator: SoftAuthenticator) -> dict[str, Any]:
    """alice on device A (``signed_in``), and device B added from A then signed in on its own
    browser."""
    b_key = SoftAuthenticator(attachment="cross-platform")
    assert signed_in.add_device(b_key, device_name="Device B").status_code == 201
    b = Api(app.test_client())
    assert b.sign_in(b_key).status_code == 200
    a_id, b_id = [d["id"] for d in signed_in.get("/api/devices").get_json()["devices"]]
    return {
        "a": signed_in,
        "a_key": authenticator,
        "a_id": a_id,
        "b": b,
        "b_key": b_key,
        "b_id": b_id,
    }


def error(response: Any) -> tuple[int, str]:
    """A JSON answer's status and error code, e.g. ``(401, "reauth_required")``."""
    return response.status_code, (response.get_json() or {}).get("error")


def execute(app: Flask, sql: str, **params: Any) -> Any:
    """Runs one SQL statement in its own committed transaction, beside the app."""
    with app.extensions[database.ENGINE_KEY].begin() as conn:
        return conn.execute(sa.text(sql), params)


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables that hold lasting state, to assert an attack changed nothing.
    Challenges are left out: consuming one is the point of a failed attempt."""
    engine = app.extensions[database.ENGINE_KEY]
    tables = ("users", "devices", "login_sessions")
    with engine.connect() as conn:
        return {
            name: sorted(tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {name}")))
            for name in tables
        }
