"""idempotency keys: a booking request repeated with the same Idempotency-Key gets the first one's ids

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chaves_idempotencia',
    sa.Column('chave', sa.String(length=200), nullable=False),
    sa.Column('corpo_hash', sa.String(length=64), nullable=False),
    sa.Column('integracao_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('criado_em', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integracao_id'], ['portal_integracoes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('chave')
    )


def downgrade() -> None:
    op.drop_table('chaves_idempotencia')
