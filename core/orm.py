"""What every model shares with the database: the declarative base, aware UTC datetime columns
and the StrEnum column type (column defaults read the time from ``core.clock``). No Flask:
models and the modules above them (sessions, services, the pure domain code) import this;
core/db.py binds it to the app."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

E = TypeVar("E", bound=StrEnum)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database: SQLite keeps no time zone, so
    every backend stores the same thing and comparisons never mix aware and naive values."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class StrEnumType(sa.types.TypeDecorator[E]):
    """A ``StrEnum`` stored as its value in a plain VARCHAR: the database holds the same strings
    as before (nothing backend-specific, no CHECK constraint to migrate), Python reads enum
    members, and a value outside the enum fails before it is written."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


# An execution option for a transaction that only reads, for long (a streamed export):
# ``db.connection(execution_options={READ_ONLY: True})`` before its first statement. On SQLite
# its BEGIN is deferred instead of IMMEDIATE (core/db.py), so, the database being in WAL mode,
# it takes no write lock and no writer waits for it while its rows flow.
READ_ONLY = "keystead_read_only"


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def rowcount(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched: what decides who won a conditional write.
    (``Session.execute`` is typed as returning a plain ``Result``; for DML it is a
    ``CursorResult``, which has the count.)"""
    return cast("sa.CursorResult[Any]", result).rowcount or 0
