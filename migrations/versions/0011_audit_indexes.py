"""audit trail indexes: by time (the admin's list, its time filters, the retention sweep) and
by kind and time (the dashboard's counts, the kind filter)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:24:10.285707
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_audit_events_kind_created_at', ['kind', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_kind_created_at')
        batch_op.drop_index(batch_op.f('ix_audit_events_created_at'))
