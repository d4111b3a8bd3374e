"""Roles on an ID. No ID has a role until the CLI grants one (``flask --app app admin grant``):
there is no default or seeded administrator."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.orm import Base, StrEnumType, UTCDateTime


class Role(StrEnum):
    """``admin``: everything. ``helpdesk``: the users and devices of IDs that are not admins,
    nothing else."""

    ADMIN = "admin"
    HELPDESK = "helpdesk"


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who granted it: an admin's ID, or (from the CLI) the command's actor.
    granted_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    granted_by: Mapped[str | None] = mapped_column(sa.String(128))
