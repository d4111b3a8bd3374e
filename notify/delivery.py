"""Delivering the outbox over SMTP with Flask-Mail.

``deliver_due`` sends what is due: it claims each row with an atomic ``UPDATE`` (a lease in
``claimed_until``, checked by row count), so any number of threads and processes can run it at
once on SQLite or PostgreSQL and a mail is still sent once. A failure is recorded on the row
(``attempts``, ``last_error``) and retried with exponential backoff; SMTP being down never loses
a mail and never reaches the request that queued it.

A ``DeliveryWorker`` thread per process calls it: woken right after a commit that queued mail
(``notify/outbox.py``), and every ``MAIL_POLL_INTERVAL`` seconds for retries and for mail queued
by other processes. It starts with the first request a process serves (so each gunicorn worker
gets its own, ``--preload`` or not, and CLI commands never start one) when ``MAIL_WORKER`` is
true and ``MAIL_SERVER`` is set. ``flask --app app send-mail`` delivers everything at once.

Delivery is at least once: a process killed between the SMTP server's acceptance and the
``sent_at`` update leaves a claimed row that is retried (sent again) once its lease ends.

Past 400 lines on purpose: claiming, sending, retrying and the worker are one state machine
over the outbox rows.
"""

from __future__ import annotations

import atexit
import logging
import os
import smtplib
import ssl
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr
from typing import Any, cast

import flask_mail
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine

from core.clock import utcnow
from core.db import ENGINE_KEY
from core.orm import rowcount
from notify.models import OutboxMail

log = logging.getLogger(__name__)

WORKER_KEY = "keystead.mail_worker"
BATCH = 50
# Errors that concern one message: the next one may still go through the same connection.
# Anything else (refused connection, timeout, lost connection, failed login) ends the batch.
MESSAGE_ERRORS: tuple[type[Exception], ...] = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    flask_mail.BadHeaderError,
)


def init_app(app: Flask) -> None:
    flask_mail.Mail().init_app(app)  # reads MAIL_* from app.config into app.extensions["mail"]
    if app.config["MAIL_WORKER"] and app.config["MAIL_SERVER"]:
        app.before_request(lambda: _ensure_worker(app))


# ---- the policy (pure) ---------------------------------------------------------------------


def retry_delay(attempts: int, *, initial: int, maximum: int) -> timedelta:
    """Wait after the ``attempts``-th failure: initial, doubling, capped at maximum."""
    return timedelta(seconds=min(initial * 2 ** min(max(attempts - 1, 0), 32), maximum))


def lease(timeout: int) -> timedelta:
    """How long a claim holds: longer than one send can take (a few SMTP steps of up to
    ``MAIL_TIMEOUT`` each), so nobody else takes a mail that is still being sent."""
    return timedelta(seconds=max(300, 10 * timeout))


# ---- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    id: int
    recipient: str
    subject: str
    text_body: str
    html_body: str
    kind: str
    attempts: int
    created_at: datetime
    claimed_until: datetime


_mail = cast(sa.Table, OutboxMail.__table__)


def _due_ids(engine: Engine, now: datetime, limit: int, force: bool) -> list[int]:
    query = (
        sa.select(_mail.c.id)
        .where(_mail.c.sent_at.is_(None), _mail.c.failed_at.is_(None))
        .where(sa.or_(_mail.c.claimed_until.is_(None), _mail.c.claimed_until < now))
        .order_by(_mail.c.next_attempt_at, _mail.c.id)
        .limit(limit)
    )
    if not force:
        query = query.where(_mail.c.next_attempt_at <= now)
    with engine.connect() as conn:
        return list(conn.scalars(query))


def _claim(
    engine: Engine, mail_id: int, now: datetime, until: datetime, force: bool
) -> _Claimed | None:
    """Take the mail for this sender, or None when another one has it (or it is done)."""
    claim = (
        sa.update(_mail)
        .where(_mail.c.id == mail_id, _mail.c.sent_at.is_(None), _mail.c.failed_at.is_(None))
        .where(sa.or_(_mail.c.claimed_until.is_(None), _mail.c.claimed_until < now))
        .values(claimed_until=until)
    )
    if not force:
        claim = claim.where(_mail.c.next_attempt_at <= now)
    with engine.begin() as conn:
        if conn.execute(claim).rowcount != 1:
            return None
        row = conn.execute(
            sa.select(
                _mail.c.id,
                _mail.c.recipient,
                _mail.c.subject,
                _mail.c.text_body,
                _mail.c.html_body,
                _mail.c.kind,
                _mail.c.attempts,
                _mail.c.created_at,
                _mail.c.claimed_until,
            ).where(_mail.c.id == mail_id)
        ).one()
    return _Claimed(*row)


def _ours(mail: _Claimed) -> sa.ColumnElement[bool]:
    return sa.and_(_mail.c.id == mail.id, _mail.c.claimed_until == mail.claimed_until)


def _mark_sent(engine: Engine, mail: _Claimed, now: datetime) -> None:
    # The bodies are erased once sent: they can hold one-time codes, and the outbox is not an
    # archive. Recipient, subject, kind and the timestamps stay as the record of what was sent.
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(_mail)
            .where(_ours(mail))
            .values(
                sent_at=now,
                claimed_until=None,
                attempts=_mail.c.attempts + 1,
                last_error=None,
                text_body="",
                html_body="",
            )
        )
    if rowcount(done) != 1:
        log.warning("mail %s was sent after its claim ran out; it may go out twice", mail.id)


def _record_failure(
    engine: Engine, mail: _Claimed, now: datetime, error: Exception, config: Any
) -> datetime | None:
    """Count the attempt, keep the error, and schedule the retry (or give up). Returns the
    time of the next attempt, None when given up."""
    attempts = mail.attempts + 1
    message = f"{type(error).__name__}: {error}"[:500]
    retry_for = config["MAIL_RETRY_FOR"]
    values: dict[str, Any] = {"attempts": attempts, "last_error": message, "claimed_until": None}
    next_at: datetime | None = None
    if retry_for and now - mail.created_at >= timedelta(seconds=retry_for):
        values.update(failed_at=now, text_body="", html_body="")
    else:
        delay = retry_delay(
            attempts, initial=config["MAIL_RETRY_INITIAL"], maximum=config["MAIL_RETRY_MAX"]
        )
        next_at = now + delay
        values["next_attempt_at"] = next_at
    with engine.begin() as conn:
        conn.execute(sa.update(_mail).where(_ours(mail)).values(**values))
    if next_at is None:
        log.error(
            "mail %s %s to %s given up after %d attempts: %s",
            mail.id,
            mail.kind,
            mail.recipient,
            attempts,
            message,
        )
    else:
        log.warning(
            "mail %s %s to %s not sent (attempt %d, next at %s): %s",
            mail.id,
            mail.kind,
            mail.recipient,
            attempts,
            next_at.isoformat(timespec="seconds"),
            message,
        )
    return next_at


class _Connection(flask_mail.Connection):
    """Flask-Mail's SMTP connection with a timeout (a hung server must not hang the worker)
    and verified TLS certificates (smtplib's default context verifies nothing)."""

    def __init__(self, mail: Any, timeout: int) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        state = self.mail
        context = ssl.create_default_context()
        host: smtplib.SMTP
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=self.timeout, context=context)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        try:
            if state.use_tls:
                host.starttls(context=context)
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host


def _message(mail: _Claimed, sender: str) -> flask_mail.Message:
    message = flask_mail.Message(
        subject=mail.subject,
        recipients=[mail.recipient],
        body=mail.text_body,
        html=mail.html_body or None,
        sender=sender,
        # RFC 3834: a machine wrote this; auto-responders should not answer it.
        extra_headers={"Auto-Submitted": "auto-generated"},
    )
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message.msgId = make_msgid(idstring=f"outbox.{mail.id}", domain=domain)
    return message


def deliver_due(
    app: Flask, now: datetime | None = None, limit: int = BATCH, *, force: bool = False
) -> tuple[int, int]:
    """Send up to ``limit`` due mails; returns ``(sent, failed)``. ``force`` ignores the retry
    schedule (``send-mail``). ``now`` pins the clock (tests); by default each step reads it.
    Stops at the first connection-level failure: the rest stays due for the next round."""
    config = app.config
    if not config["MAIL_SERVER"]:
        return 0, 0
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    engine: Engine = app.extensions[ENGINE_KEY]
    hold = lease(config["MAIL_TIMEOUT"])
    sent = failed = 0
    connection: _Connection | None = None
    with app.app_context():
        try:
            for mail_id in _due_ids(engine, clock(), limit, force):
                started = clock()
                mail = _claim(engine, mail_id, started, started + hold, force)
                if mail is None:
                    continue  # another sender has it, or it went out meanwhile
                try:
                    if connection is None:
                        connection = _Connection(app.extensions["mail"], config["MAIL_TIMEOUT"])
                        connection.__enter__()  # connects (and logs in)
                    connection.send(_message(mail, config["MAIL_DEFAULT_SENDER"]))
                except Exception as error:
                    failed += 1
                    _record_failure(engine, mail, clock(), error, config)
                    if isinstance(error, MESSAGE_ERRORS):
                        continue
                    # The connection is unusable: leave the other mails due for the next
                    # round instead of failing each of them on it.
                    break
                _mark_sent(engine, mail, clock())
                sent += 1
                log.info(
                    "mail %s %s sent to %s: %r", mail.id, mail.kind, mail.recipient, mail.subject
                )
        finally:
            if connection is not None and connection.host is not None:
                _close(connection.host)
    return sent, failed


def _close(host: smtplib.SMTP) -> None:
    try:
        host.quit()
    except (OSError, smtplib.SMTPException):
        host.close()


@dataclass(frozen=True)
class Summary:
    sent: int
    failed: int
    waiting: int


def deliver_all(app: Flask) -> Summary:
    """Everything undelivered, now, ignoring the retry schedule; stops at the first failure
    of the connection (``flask --app app send-mail``)."""
    sent = failed = 0
    while True:
        batch_sent, batch_failed = deliver_due(app, force=True)
        sent, failed = sent + batch_sent, failed + batch_failed
        if batch_failed or batch_sent < BATCH:
            break
    return Summary(sent, failed, waiting(app))


def waiting(app: Flask) -> int:
    """Mails neither sent nor given up."""
    engine: Engine = app.extensions[ENGINE_KEY]
    query = (
        sa.select(sa.func.count())
        .select_from(_mail)
        .where(_mail.c.sent_at.is_(None), _mail.c.failed_at.is_(None))
    )
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


# ---- the worker thread ---------------------------------------------------------------------


class DeliveryWorker:
    """One daemon thread: deliver, then sleep until woken or ``MAIL_POLL_INTERVAL`` passes."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pid = os.getpid()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keystead-mail", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        """Finish the mail in hand, then end the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        interval = self.app.config["MAIL_POLL_INTERVAL"]
        while not self._stopping.is_set():
            # Cleared before delivering: a wake during delivery means another round at once.
            self._wake.clear()
            more = False
            try:
                sent, failed = deliver_due(self.app)
                more = sent == BATCH and not failed
            except Exception:
                log.exception("mail delivery round failed; retrying in %s s", interval)
            if not more:
                self._wake.wait(interval)


_workers: weakref.WeakSet[DeliveryWorker] = weakref.WeakSet()
_lock = threading.Lock()


def start_worker(app: Flask) -> DeliveryWorker:
    """Start (or return) this process's worker for ``app``."""
    with _lock:
        worker: DeliveryWorker | None = app.extensions.get(WORKER_KEY)
        if worker is not None and worker.pid == os.getpid() and worker.is_alive():
            return worker
        worker = DeliveryWorker(app)
        app.extensions[WORKER_KEY] = worker
        _workers.add(worker)
        worker.start()
        return worker


def stop_worker(app: Flask, timeout: float = 10) -> None:
    worker: DeliveryWorker | None = app.extensions.pop(WORKER_KEY, None)
    if worker is not None:
        worker.stop(timeout)


def wake(app: Flask) -> None:
    """Have this process's worker look at the outbox now (after a commit that queued mail)."""
    worker: DeliveryWorker | None = app.extensions.get(WORKER_KEY)
    if worker is not None and worker.pid == os.getpid():
        worker.wake()


def _ensure_worker(app: Flask) -> None:
    worker: DeliveryWorker | None = app.extensions.get(WORKER_KEY)
    if worker is None or worker.pid != os.getpid():  # none yet, or inherited through fork
        start_worker(app)


@atexit.register
def _stop_all() -> None:
    for worker in list(_workers):
        worker.stop(timeout=5)
