"""Mail: the outbox, delivery over real SMTP (aiosmtpd, tests/mail.py), retries, the worker
thread, the ``send-mail`` command and the dev mailbox."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request

from core import db as database
from core.clock import utcnow
from core.errors import InvalidInput
from notify import delivery, outbox
from notify.models import OutboxMail
from notify.views import MAIL_CSP
from tests.conftest import Api
from tests.mail import Mailbox

CODE = "31415926"


def add_test_routes(app: Flask) -> None:
    """A stand-in for a feature: a request that queues a mail and commits, or fails after
    queueing it (so the error handler rolls back)."""

    @app.post("/test/mail")
    def queue_mail() -> dict[str, Any]:
        body = request.get_json()
        db = database.session()
        mail = outbox.enqueue(
            db,
            utcnow(),
            to=body.get("to", "alice@example.com"),
            template="test",
            context={"code": body.get("code", CODE)},
            kind="test",
        )
        db.flush()
        if body.get("fail"):
            raise InvalidInput("failing after the mail was queued")
        db.commit()
        return {"id": mail.id}


@pytest.fixture
def routes(app: Flask) -> Flask:
    add_test_routes(app)
    return app


def queue(app: Flask, to: str = "alice@example.com", **context: Any) -> int:
    with app.app_context():
        db = database.session()
        mail = outbox.enqueue(
            db, utcnow(), to=to, template="test", context={"code": CODE, **context}, kind="test"
        )
        db.commit()
        return mail.id


def rows(app: Flask) -> list[OutboxMail]:
    with app.app_context():
        return list(database.session().scalars(sa.select(OutboxMail).order_by(OutboxMail.id)))


def wait_until(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def close_to(actual: Any, expected: Any, slack: float = 2) -> bool:
    return abs((actual - expected).total_seconds()) <= slack


# ---- delivery ------------------------------------------------------------------------------


def test_mail_is_delivered_over_smtp_with_text_and_html(app: Flask, mailbox: Mailbox):
    mail_id = queue(app, to="alice@example.com")

    message = mailbox.wait_for(to="alice@example.com")[0]
    assert message["From"] == "Keystead <keystead@localhost>"
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Test mail from Keystead Test"
    assert message["Auto-Submitted"] == "auto-generated"
    assert f"outbox.{mail_id}@localhost" in message["Message-ID"]
    text, html = mailbox.text(message), mailbox.html(message)
    assert text.startswith("Keystead Test\n") and not text.startswith("Subject:")
    assert f"Test code: {CODE}" in text
    assert "alice@example.com" in text  # the footer says why this address gets the mail
    assert CODE in html and "Keystead Test" in html
    assert "<title>Test mail from Keystead Test</title>" in html

    wait_until(lambda: rows(app)[0].sent_at is not None)
    (row,) = rows(app)
    assert (row.attempts, row.last_error, row.claimed_until) == (1, None, None)
    # Sent mail keeps its record but not its bodies: they can hold one-time codes.
    assert row.text_body == row.html_body == ""
    assert (row.recipient, row.subject, row.kind) == (
        "alice@example.com",
        "Test mail from Keystead Test",
        "test",
    )
    mailbox.assert_count(1)


def test_a_request_queues_mail_in_its_transaction(routes: Flask, api: Api, mailbox: Mailbox):
    response = api.post("/test/mail", {"to": "bob@example.com"})
    assert response.status_code == 200
    assert CODE in mailbox.text(mailbox.wait_for(to="bob@example.com")[0])


def test_a_rolled_back_change_queues_nothing(routes: Flask, api: Api, mailbox: Mailbox):
    response = api.post("/test/mail", {"fail": True})
    assert response.status_code == 400
    assert rows(routes) == []
    time.sleep(0.3)
    assert mailbox.messages == []


def test_templates_escape_html_and_keep_the_subject_on_one_line(app: Flask):
    app.config["RP_NAME"] = "Evil\r\nBcc: victim@example.com"
    mail_id = queue(app, code="<b>1</b>")
    (row,) = rows(app)
    assert row.id == mail_id
    assert row.subject == "Test mail from Evil Bcc: victim@example.com"
    assert "Test code: <b>1</b>" in row.text_body
    assert "&lt;b&gt;1&lt;/b&gt;" in row.html_body and "<b>1</b>" not in row.html_body
    with app.app_context(), pytest.raises(ValueError):
        outbox.enqueue(
            database.session(),
            utcnow(),
            to="a@example.com\r\nBcc: b@example.com",
            template="test",
            context={},
            kind="test",
        )


# ---- SMTP down, retries, send-mail ---------------------------------------------------------


def test_retry_delay_starts_near_ten_seconds_doubles_and_is_capped():
    delays = [delivery.retry_delay(n, initial=10, maximum=300).total_seconds() for n in range(1, 9)]
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]
    assert delivery.retry_delay(10_000, initial=10, maximum=300) == timedelta(minutes=5)


def test_smtp_down_keeps_the_mail_and_backs_off_then_send_mail_delivers_it_once(
    routes: Flask, api: Api, mailbox: Mailbox
):
    mailbox.stop()
    response = api.post("/test/mail", {})
    assert response.status_code == 200  # the user's request never sees SMTP

    # The worker tried right after the commit: the attempt and the error are on the row.
    wait_until(lambda: rows(routes)[0].attempts == 1)
    (row,) = rows(routes)
    assert row.sent_at is None and row.claimed_until is None
    assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error
    assert close_to(row.next_attempt_at, utcnow() + timedelta(seconds=10))

    # Not due before the backoff ends; each further failure doubles the wait, up to 5 minutes.
    first_retry = row.next_attempt_at
    assert delivery.deliver_due(routes, now=first_retry - timedelta(seconds=1)) == (0, 0)
    assert delivery.deliver_due(routes, now=first_retry) == (0, 1)
    (row,) = rows(routes)
    assert row.attempts == 2 and row.next_attempt_at == first_retry + timedelta(seconds=20)
    now = row.next_attempt_at
    for _ in range(6):
        delivery.deliver_due(routes, now=now)
        (row,) = rows(routes)
        now = row.next_attempt_at
    assert row.attempts == 8
    assert delivery.deliver_due(routes, now=now - timedelta(seconds=301)) == (0, 0)
    assert delivery.deliver_due(routes, now=now) == (0, 1)
    (row,) = rows(routes)
    assert row.next_attempt_at - now == timedelta(minutes=5)

    # SMTP is back: send-mail delivers now, whatever the schedule says, and only once.
    mailbox.start()
    result = routes.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 0, undelivered 0" in result.output
    assert CODE in mailbox.text(mailbox.wait_for(to="alice@example.com")[0])
    again = routes.test_cli_runner().invoke(args=["send-mail"])
    assert "sent 0, failed 0, undelivered 0" in again.output
    assert delivery.deliver_due(routes, now=now + timedelta(days=1)) == (0, 0)
    mailbox.assert_count(1, to="alice@example.com")
    (row,) = rows(routes)
    assert row.attempts == 10 and row.sent_at is not None and row.text_body == ""


def test_send_mail_fails_loudly_while_smtp_is_down(app: Flask, mailbox: Mailbox):
    delivery.stop_worker(app)
    mailbox.stop()
    queue(app)
    queue(app)
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 1
    # The first refused connection ends the round: the second mail is not tried on it.
    assert "sent 0, failed 1, undelivered 2" in result.output
    assert [row.attempts for row in rows(app)] == [1, 0]


def test_send_mail_test_checks_the_smtp_settings(app: Flask, smtp_server: Mailbox):
    smtp_server.clear()
    result = app.test_cli_runner().invoke(args=["send-mail", "--test", "carol@example.com"])
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 0, undelivered 0" in result.output
    (message,) = smtp_server.wait_for(to="carol@example.com")
    assert message["Subject"] == "Test mail from Keystead Test"
    bad = app.test_cli_runner().invoke(args=["send-mail", "--test", "not-an-address"])
    assert bad.exit_code != 0 and "not a mail address" in bad.output


@pytest.mark.parametrize(
    "config_overrides", [{"MAIL_RETRY_INITIAL": 1, "MAIL_POLL_INTERVAL": 1}], indirect=True
)
def test_the_worker_retries_by_itself_once_smtp_is_back(routes: Flask, api: Api, mailbox: Mailbox):
    mailbox.stop()
    assert api.post("/test/mail", {}).status_code == 200
    wait_until(lambda: rows(routes)[0].attempts >= 1)
    mailbox.start()
    assert CODE in mailbox.text(mailbox.wait_for(to="alice@example.com", timeout=5)[0])
    wait_until(lambda: rows(routes)[0].sent_at is not None)
    mailbox.assert_count(1, settle=0.6)  # rounds later, still once


def test_mail_is_given_up_after_mail_retry_for(app: Flask, smtp_server: Mailbox):
    smtp_server.stop()
    try:
        queue(app)
        (row,) = rows(app)
        late = row.created_at + timedelta(seconds=app.config["MAIL_RETRY_FOR"])
        assert delivery.deliver_due(app, now=row.created_at) == (0, 1)
        assert delivery.deliver_due(app, now=late) == (0, 1)
    finally:
        smtp_server.start()
    (row,) = rows(app)
    assert row.failed_at == late and row.sent_at is None
    assert row.text_body == row.html_body == ""
    assert delivery.deliver_all(app) == delivery.Summary(sent=0, failed=0, waiting=0)


# ---- several senders at once ---------------------------------------------------------------


def test_concurrent_senders_never_send_a_mail_twice(app: Flask, smtp_server: Mailbox):
    smtp_server.clear()
    ids = {queue(app, to=f"user{n}@example.com") for n in range(24)}
    start = threading.Barrier(4)
    results: list[tuple[int, int]] = []

    def sender() -> None:
        start.wait()
        results.append(delivery.deliver_due(app, limit=24))

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(sent for sent, _ in results) == 24
    assert sum(failed for _, failed in results) == 0
    message_ids = [m["Message-ID"] for m in smtp_server.wait_for(count=24)]
    assert sorted(message_ids) == sorted({*message_ids})
    assert {int(mid.split("outbox.")[1].split("@")[0]) for mid in message_ids} == ids
    smtp_server.assert_count(24, settle=0)


def test_a_claimed_mail_is_not_taken_until_its_lease_ends(app: Flask, smtp_server: Mailbox):
    smtp_server.clear()
    mail_id = queue(app)
    engine = app.extensions[database.ENGINE_KEY]
    now = utcnow()
    lease = delivery.lease(app.config["MAIL_TIMEOUT"])
    assert delivery._claim(engine, mail_id, now, now + lease, False) is not None
    assert delivery._claim(engine, mail_id, now, now + lease, False) is None
    assert delivery.deliver_due(app, now=now + timedelta(seconds=1)) == (0, 0)
    # A sender that died holding it: after the lease the mail goes out.
    assert delivery.deliver_due(app, now=now + lease + timedelta(seconds=1)) == (1, 0)
    smtp_server.wait_for()


# ---- the worker thread ---------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"MAIL_POLL_INTERVAL": 60}], indirect=True)
def test_the_worker_sends_right_after_the_commit(routes: Flask, api: Api, mailbox: Mailbox):
    time.sleep(0.1)  # the worker's first round is over: it now sleeps for 60 s
    started = time.monotonic()
    assert api.post("/test/mail", {}).status_code == 200
    mailbox.wait_for(to="alice@example.com", timeout=3)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("config_overrides", [{"MAIL_WORKER": True}], indirect=True)
def test_the_worker_starts_with_the_first_request_and_stops(
    routes: Flask, api: Api, smtp_server: Mailbox
):
    smtp_server.clear()
    assert delivery.WORKER_KEY not in routes.extensions  # not at create_app: CLI never runs one
    try:
        assert api.post("/test/mail", {}).status_code == 200
        worker = routes.extensions[delivery.WORKER_KEY]
        assert worker.is_alive()
        smtp_server.wait_for(to="alice@example.com")
        api.get("/api/me")
        assert routes.extensions[delivery.WORKER_KEY] is worker  # one per process
    finally:
        delivery.stop_worker(routes)
    assert not worker.is_alive()


# ---- no MAIL_SERVER: outbox, log, dev mailbox ----------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"MAIL_SERVER": None}], indirect=True)
def test_without_mail_server_mail_stays_in_the_outbox_and_is_logged_without_body(
    routes: Flask, api: Api, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO, logger="notify"):
        assert api.post("/test/mail", {}).status_code == 200
    assert "alice@example.com" in caplog.text
    assert "Test mail from Keystead Test" in caplog.text
    assert CODE not in caplog.text
    assert delivery.deliver_due(routes) == (0, 0)
    (row,) = rows(routes)
    assert row.sent_at is None and row.attempts == 0 and CODE in row.text_body
    result = routes.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code != 0 and "MAIL_SERVER is not set" in result.output


@pytest.mark.parametrize(
    "config_overrides", [{"ENV": "development", "MAIL_SERVER": None}], indirect=True
)
def test_dev_mailbox_shows_the_outbox_newest_first(app: Flask, api: Api):
    first = queue(app, to="first@example.com", code="11111111")
    second = queue(app, to="second@example.com", code="22222222")

    page = api.get("/dev/mailbox")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert body.index("second@example.com") < body.index("first@example.com")
    assert "Test code: 22222222" in body and "Test code: 11111111" in body
    assert f'src="/dev/mailbox/{second}.html"' in body
    assert "sandbox" in body
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]

    html = api.get(f"/dev/mailbox/{first}.html")
    assert html.status_code == 200
    assert "11111111" in html.get_data(as_text=True)
    assert html.headers["Content-Security-Policy"] == MAIL_CSP
    assert "sandbox" in MAIL_CSP and "script" not in MAIL_CSP
    assert html.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert api.get("/dev/mailbox/999999.html").status_code == 404
    assert api.get("/dev/mailbox/static/mailbox.css").status_code == 200


def test_dev_mailbox_is_a_404_in_production(app: Flask, api: Api):
    mail_id = queue(app)
    assert app.config["ENV"] == "production"
    for path in ("/dev/mailbox", f"/dev/mailbox/{mail_id}.html", "/dev/mailbox/static/mailbox.css"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert CODE not in response.get_data(as_text=True)
