"""The dev mailbox: the outbox as a page, for reading mail (one-time codes…) while developing
without SMTP. Registered only when ``ENV == "development"``, so it is a 404 anywhere else."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from core import db as database
from core.errors import NotFound
from notify import outbox

mailbox = Blueprint(
    "dev_mailbox",
    __name__,
    url_prefix="/dev/mailbox",
    static_folder="static",
    static_url_path="/static",
)

# A mail's HTML is shown in a sandboxed frame of the mailbox page. Mail needs inline styles,
# which the pages' CSP forbids, so it gets its own policy: styles and data: images, nothing
# else (no script, no fetch, no form, no navigation), framed by our own page only.
MAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
)


@mailbox.get("")
def index() -> str:
    mails, total = outbox.recent(database.session())
    return render_template(
        "notify/mailbox.html",
        mails=mails,
        total=total,
        mail_server=current_app.config["MAIL_SERVER"],
    )


@mailbox.get("/<int:mail_id>.html")
def html(mail_id: int) -> Response:
    mail = outbox.find(database.session(), mail_id)
    if mail is None or not mail.html_body:
        raise NotFound()
    response = Response(mail.html_body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response
