"""partner websites: clients, connections, grants, codes, tokens, signing keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:15:44.327455
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.orm

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('secret_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('origins', sa.JSON(), nullable=False),
    sa.Column('post_logout_redirect_uris', sa.JSON(), nullable=False),
    sa.Column('trusted', sa.Boolean(), nullable=False),
    sa.Column('id_token_alg', sa.String(length=16), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('secret_rotated_at', core.orm.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oauth_clients_client_id'))
    )
    op.create_table('oidc_signing_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=16), nullable=False),
    sa.Column('private_jwk', sa.JSON(), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('retired_at', core.orm.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_signing_keys')),
    sa.UniqueConstraint('kid', name=op.f('uq_oidc_signing_keys_kid'))
    )
    op.create_table('oauth_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('scopes', sa.String(length=512), nullable=False),
    sa.Column('consented_at', core.orm.UTCDateTime(), nullable=True),
    sa.Column('first_used_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', core.orm.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['oauth_clients.id'], name=op.f('fk_oauth_connections_client_pk_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_connections_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_connections')),
    sa.UniqueConstraint('user_id', 'client_pk', name=op.f('uq_oauth_connections_user_id'))
    )
    with op.batch_alter_table('oauth_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_connections_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_connections_user_id'), ['user_id'], unique=False)

    op.create_table('oauth_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('login_session_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=512), nullable=False),
    sa.Column('nonce', sa.String(length=512), nullable=True),
    sa.Column('auth_time', core.orm.UTCDateTime(), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('acr', sa.String(length=16), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', core.orm.UTCDateTime(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['oauth_clients.id'], name=op.f('fk_oauth_grants_client_pk_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_oauth_grants_device_id_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['login_session_id'], ['login_sessions.id'], name=op.f('fk_oauth_grants_login_session_id_login_sessions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oauth_grants_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_grants'))
    )
    with op.batch_alter_table('oauth_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_grants_sid'), ['sid'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_grants_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_grants_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_grants_login_session_id'), ['login_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_grants_user_id'), ['user_id'], unique=False)

    op.create_table('oauth_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('redirect_uri', sa.String(length=2048), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('code_challenge_method', sa.String(length=16), nullable=True),
    sa.Column('created_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('expires_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('used_at', core.orm.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['oauth_grants.id'], name=op.f('fk_oauth_codes_grant_id_oauth_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_codes_code_hash'))
    )
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_codes_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_codes_grant_id'), ['grant_id'], unique=False)

    op.create_table('oauth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('scope', sa.String(length=512), nullable=False),
    sa.Column('created_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('expires_at', core.orm.UTCDateTime(), nullable=False),
    sa.Column('used_at', core.orm.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', core.orm.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['oauth_grants.id'], name=op.f('fk_oauth_tokens_grant_id_oauth_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_oauth_tokens_token_hash'))
    )
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_tokens_grant_id'), ['grant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_grant_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_expires_at'))

    op.drop_table('oauth_tokens')
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_codes_grant_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_codes_expires_at'))

    op.drop_table('oauth_codes')
    with op.batch_alter_table('oauth_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_grants_user_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_grants_login_session_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_grants_device_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_grants_client_pk'))
        batch_op.drop_index(batch_op.f('ix_oauth_grants_sid'))

    op.drop_table('oauth_grants')
    with op.batch_alter_table('oauth_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_connections_user_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_connections_client_pk'))

    op.drop_table('oauth_connections')
    op.drop_table('oidc_signing_keys')
    op.drop_table('oauth_clients')
