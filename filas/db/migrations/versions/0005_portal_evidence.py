"""portal evidence: a screenshot and the page's HTML of each failed booking attempt

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portal_evidencias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('integracao_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('tentativa', sa.Integer(), nullable=False),
    sa.Column('etapa', sa.String(length=40), nullable=True),
    sa.Column('erro', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('screenshot', sa.LargeBinary(), nullable=True),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('html_truncado', sa.Boolean(), nullable=False),
    sa.Column('screenshot_bytes', sa.Integer(), nullable=False),
    sa.Column('html_bytes', sa.Integer(), nullable=False),
    sa.Column('criado_em', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integracao_id'], ['portal_integracoes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_portal_evidencias_integracao_id'), 'portal_evidencias', ['integracao_id'], unique=False)
    op.create_index(op.f('ix_portal_evidencias_criado_em'), 'portal_evidencias', ['criado_em'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_portal_evidencias_criado_em'), table_name='portal_evidencias')
    op.drop_index(op.f('ix_portal_evidencias_integracao_id'), table_name='portal_evidencias')
    op.drop_table('portal_evidencias')
