"""The app's database: one engine per app (``init_app``), one SQLAlchemy session per app
context (``session()``), closed at teardown, and the migrations. Services receive the session as
an argument and flush; views commit once.

The declarative base and the UTC column type live in core/orm.py and the clock in core/clock.py,
which import no Flask; they are named here too because the migrations say
``core.db.UTCDateTime`` and the CLI and the tests read ``core.db.utcnow``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from core.clock import utcnow  # noqa: F401  (named here too: see above)
from core.orm import READ_ONLY, Base, UTCDateTime  # noqa: F401  (named here too: see above)

ENGINE_KEY = "keystead.engine"


# The largest id a row can have: id columns are INTEGER, 32-bit signed on PostgreSQL (64 on
# SQLite). A larger number (from a URL, say) names no row and must not reach the database (a
# DataError on PostgreSQL, an OverflowError in SQLite's driver past 64 bits).
ROW_ID_MAX = 2**31 - 1


def make_engine(uri: str) -> Engine:
    if uri.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if uri in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = sa.create_engine(uri, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The busy timeout makes a writer wait for another instead of failing; foreign keys
            # are off by default in SQLite. WAL (readers beside the writer) is a property of the
            # database file, switched once by ``upgrade``: switching it here, on every worker's
            # first connection, made workers race for the exclusive lock it needs.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            # We emit BEGIN ourselves (below) instead of letting the driver do it.
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A deferred transaction that reads, then writes after another connection
            # committed, fails at once with SQLITE_BUSY (the busy timeout cannot help it), and
            # even GET requests write now and then (a session's last-seen time, a pairing's
            # expiry). So every transaction takes the write lock up front and waits its turn;
            # they are all short. PostgreSQL is the path for concurrency beyond that. A
            # transaction that only reads, for long (``READ_ONLY``), must not hold that lock.
            read_only = conn.get_execution_options().get(READ_ONLY)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(uri, pool_pre_ping=True, pool_size=10, max_overflow=10)


def init_app(app: Flask) -> None:
    app.extensions[ENGINE_KEY] = make_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions[ENGINE_KEY]


def session() -> Session:
    """The session of the current app context, created on first use."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False, autoflush=True)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


# ---- migrations ----------------------------------------------------------------------------

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(uri: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", uri.replace("%", "%%"))
    return cfg


def upgrade(app: Flask, revision: str = "heads") -> None:
    """Bring the app's database to ``revision`` with Alembic (creating the SQLite folder)."""
    from alembic import command

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(uri), revision)
    if uri.startswith("sqlite:///") and uri not in ("sqlite://", "sqlite:///:memory:"):
        use_wal(uri)


def use_wal(uri: str) -> None:
    """Puts a SQLite database file in WAL mode (it stays so): done once, here, before any
    server process opens it, never by racing workers."""
    engine = sa.create_engine(uri, connect_args={"timeout": 30})
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode (journal_mode is {mode})")
    finally:
        engine.dispose()


def describe(app: Flask) -> str:
    return sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(
        hide_password=True
    )
