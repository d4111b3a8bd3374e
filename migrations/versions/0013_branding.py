"""branding: the organisation's name, accent colour and logo

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 07:23:29.310188
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.orm

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('branding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.Column('accent_color', sa.String(length=7), nullable=True),
    sa.Column('logo', sa.LargeBinary(), nullable=True),
    sa.Column('logo_content_type', sa.String(length=32), nullable=True),
    sa.Column('logo_hash', sa.String(length=64), nullable=True),
    sa.Column('updated_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_branding_updated_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branding'))
    )


def downgrade() -> None:
    op.drop_table('branding')
