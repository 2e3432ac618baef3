"""periodic runs: one row per daily job and local day, claimed before the job runs

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('execucoes_periodicas',
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('referencia', sa.Date(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('iniciado_em', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finalizado_em', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('actor', 'referencia')
    )


def downgrade() -> None:
    op.drop_table('execucoes_periodicas')
