"""Side effects of core events for the user: the mail outbox (``outbox.enqueue``, delivered by
``delivery``), mail for backup and recovery (``mails``), every device's notification inbox
and block links (``inbox``, ``inbox_views``) and, in development, the dev mailbox (``views``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # so that importing notify.models (the dashboard counts mail) needs no Flask
    from flask import Flask


def init_app(app: Flask) -> None:
    from notify import delivery, inbox, inbox_views, mails, views

    delivery.init_app(app)
    mails.connect()
    inbox.connect()
    inbox_views.register_answer_extras()
    app.register_blueprint(inbox_views.pages)
    app.register_blueprint(inbox_views.api)
    if app.config["ENV"] == "development":
        app.register_blueprint(views.mailbox)
