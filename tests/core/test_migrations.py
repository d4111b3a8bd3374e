"""The Alembic migrations build exactly the schema the models describe, and go down and up."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import core.models  # noqa: F401
import notify.models  # noqa: F401
import recovery.models  # noqa: F401
import webauthn.models  # noqa: F401
from core.db import Base, alembic_config


def test_migrated_schema_matches_the_models(migrated):
    engine = sa.create_engine(migrated)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], (
        "models and migrations differ: add a migration (alembic revision --autogenerate)"
    )


def test_migrations_downgrade_and_upgrade_cleanly(tmp_path):
    url = f"sqlite:///{tmp_path}/roundtrip.db"
    cfg = alembic_config(url)
    command.upgrade(cfg, "heads")
    command.downgrade(cfg, "base")
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "heads")
    assert {"users", "devices", "challenges", "login_sessions", "audit_events"} <= set(
        sa.inspect(engine).get_table_names()
    )
    engine.dispose()


def test_the_migrated_database_holds_the_policy_stamp_the_code_reads(tmp_path):
    """A fresh database has its policy stamp from the migration, in the row ``core.policy``
    reads, so a server's first change replaces it instead of adding a second one."""
    from sqlalchemy.orm import Session

    from core import config, policy

    url = f"sqlite:///{tmp_path}/fresh.db"
    command.upgrade(alembic_config(url), "heads")
    engine = sa.create_engine(url)
    with Session(engine) as db:
        assert policy.effective(db, config.defaults()).stamp is not None
    engine.dispose()
