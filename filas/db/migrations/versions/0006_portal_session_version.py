"""portal session version: a save based on an older read never overwrites a newer session

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('portal_sessions', sa.Column('versao', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('portal_sessions', sa.Column('salvo_por', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column('portal_sessions', 'salvo_por')
    op.drop_column('portal_sessions', 'versao')
