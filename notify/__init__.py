"""Side effects of core events for the user: the mail outbox (``outbox.enqueue``, delivered by
``delivery``) and, in development, the dev mailbox (``views``)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from notify import delivery, views

    delivery.init_app(app)
    if app.config["ENV"] == "development":
        app.register_blueprint(views.mailbox)
