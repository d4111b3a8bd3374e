"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 collects every message it receives.

``base_config`` points every test app at it (``MAIL_SERVER``/``MAIL_PORT`` from ``SMTP_PORT``),
with ``MAIL_WORKER`` off so no test leaves a thread behind. The ``mailbox`` fixture empties the
server's list, and when the test uses the ``app`` fixture (directly or through ``api``,
``signed_in``…) or the browser tests' ``live_server``, starts that app's delivery worker,
stopped again at teardown. So a test reads mail the way a user does::

    def test_code_by_mail(signed_in, mailbox):
        signed_in.post("/api/backup/activate")
        message = mailbox.wait_for(to="alice@example.com")[0]
        code = re.search(r"\\b\\d{8}\\b", mailbox.text(message)).group()

``wait_for(to, count=n)`` waits (up to ``timeout`` s) until ``n`` messages for ``to`` have
arrived and returns them all, oldest first; ``messages`` is everything received;
``assert_count(n, to)`` checks nothing more arrives. ``stop()`` and ``start()`` take the server
down and bring it back on the same port (an SMTP outage).
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def _free_port() -> int:
    # aiosmtpd's readiness check cannot work with port 0: take a free port first.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMTP_HOST = "127.0.0.1"
# One port per test process (and so per xdist worker), chosen at import, so ``base_config`` can
# name it before the server exists.
SMTP_PORT = _free_port()


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mailbox._receive(message, [rcpt.lower() for rcpt in envelope.rcpt_tos])
        return "250 Message accepted for delivery"


class Mailbox:
    """The messages an aiosmtpd server on ``host``:``port`` received, parsed."""

    def __init__(self, host: str = SMTP_HOST, port: int = SMTP_PORT) -> None:
        self.host = host
        self.port = port
        self._controller: Controller | None = None
        self._received: list[tuple[EmailMessage, list[str]]] = []
        self._changed = threading.Condition()

    # -- the server --
    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Serve on the same port again (a stopped Controller's loop is closed: make another)."""
        if self._controller is not None:
            return
        controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        deadline = time.monotonic() + 5
        while True:
            try:
                controller.start()
                break
            except OSError:  # the port is still closing from stop(): try again briefly
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._controller = controller

    def stop(self) -> None:
        """Take the server down: connections to the port are refused until ``start()``."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def config(self) -> dict[str, Any]:
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port}

    # -- the messages --
    def _receive(self, message: EmailMessage, recipients: list[str]) -> None:
        with self._changed:
            self._received.append((message, recipients))
            self._changed.notify_all()

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received since the fixture began, oldest first."""
        with self._changed:
            return [message for message, _ in self._received]

    def received(self, to: str | None = None) -> list[EmailMessage]:
        """Every message received for ``to`` (envelope or ``To``), oldest first, at once."""
        with self._changed:
            return self._matching(to)

    def clear(self) -> None:
        with self._changed:
            self._received.clear()

    def discard(self, message: EmailMessage) -> None:
        """Forget one message (a fixture's own mail the test should not see)."""
        with self._changed:
            self._received = [(m, r) for m, r in self._received if m is not message]

    def _matching(self, to: str | None) -> list[EmailMessage]:
        wanted = to.lower() if to else None
        found = []
        for message, recipients in self._received:
            headers = {addr.lower() for _, addr in getaddresses(message.get_all("To", []))}
            if wanted is None or wanted in recipients or wanted in headers:
                found.append(message)
        return found

    def wait_for(
        self, to: str | None = None, count: int = 1, timeout: float = 5
    ) -> list[EmailMessage]:
        """Every message for ``to`` (any recipient if None) received since the fixture began,
        oldest first, once there are at least ``count``; fails the test after ``timeout``
        seconds. The n-th mail to alice is ``wait_for(to=alice, count=n)[n - 1]``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._matching(to)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [(m["To"], m["Subject"]) for m, _ in self._received]
                    raise AssertionError(
                        f"expected {count} message(s) for {to or 'anyone'} within {timeout} s; "
                        f"received: {subjects}"
                    )
                self._changed.wait(left)

    def assert_count(self, count: int, to: str | None = None, settle: float = 0.3) -> None:
        """Exactly ``count`` messages for ``to``, still after ``settle`` more seconds (nothing
        was sent twice)."""
        self.wait_for(to=to, count=count)
        time.sleep(settle)
        found = self.received(to)
        assert len(found) == count, [(m["To"], m["Subject"]) for m in found]

    # -- reading a message --
    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(("plain",))
        assert part is not None, "no text/plain part"
        return str(part.get_content()).replace("\r\n", "\n")

    @staticmethod
    def html(message: EmailMessage) -> str:
        part = message.get_body(("html",))
        assert part is not None, "no text/html part"
        return str(part.get_content()).replace("\r\n", "\n")


# The one server of this test process (``smtp_server`` starts it), so helpers without the
# fixture (conftest's ``Api.sign_up``) can find a mail that went out.
SERVER = Mailbox()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Mailbox]:
    """The session's SMTP server (see ``mailbox`` for the per-test view)."""
    server = SERVER
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: Mailbox, request: pytest.FixtureRequest) -> Iterator[Mailbox]:
    """The SMTP server, running and empty; with the ``app`` (or browser ``live_server``)
    fixture in play, that app's delivery worker runs for the test: mail goes out right after
    each commit."""
    from notify import delivery

    smtp_server.start()
    smtp_server.clear()
    app = None
    for name in ("app", "live_server"):  # the API tests' app, the browser tests' server
        if name in request.fixturenames:
            used = request.getfixturevalue(name)
            app = getattr(used, "app", used)
            break
    if app is not None:
        delivery.start_worker(app)
    yield smtp_server
    if app is not None:
        delivery.stop_worker(app)
    smtp_server.start()  # a test that took it down leaves it up for the next one
