"""authenticator metadata (FIDO MDS)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:23:52.899613
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.orm

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authenticator_models',
    sa.Column('aaguid', sa.LargeBinary(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=64), nullable=True),
    sa.Column('status_date', sa.Date(), nullable=True),
    sa.Column('attestation_roots', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('aaguid', name=op.f('pk_authenticator_models'))
    )
    op.create_table('metadata_blob',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('no', sa.BigInteger(), nullable=False),
    sa.Column('next_update', sa.Date(), nullable=False),
    sa.Column('legal_header', sa.Text(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('loaded_at', core.orm.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metadata_blob'))
    )


def downgrade() -> None:
    op.drop_table('metadata_blob')
    op.drop_table('authenticator_models')
