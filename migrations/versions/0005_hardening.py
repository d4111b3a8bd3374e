"""verified addresses, a backup address, deleted IDs, removed devices kept, attestation facts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('backup_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('backup_email_verified_at', core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', core.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('uv_initialized', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('attestation_format', sa.String(length=32), nullable=True))
    with op.batch_alter_table('email_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=254), nullable=True))
        batch_op.create_index(batch_op.f('ix_email_codes_address'), ['address'], unique=False)
    # Addresses that already received and returned a backup-activation code are verified.
    op.execute(
        "UPDATE users SET email_verified_at = "
        "(SELECT activated_at FROM backup_codes WHERE backup_codes.user_id = users.id) "
        "WHERE EXISTS (SELECT 1 FROM backup_codes WHERE backup_codes.user_id = users.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table('email_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_codes_address'))
        batch_op.drop_column('address')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('attestation_format')
        batch_op.drop_column('uv_initialized')
        batch_op.drop_column('removed_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('backup_email_verified_at')
        batch_op.drop_column('backup_email')
        batch_op.drop_column('email_verified_at')
