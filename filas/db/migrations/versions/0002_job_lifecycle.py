"""job lifecycle on the domain rows: the truth about each job

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

LIFECYCLE_TABLES = ('portal_integracoes', 'campanhas')


def _lifecycle_columns() -> list[sa.Column]:
    return [
        sa.Column('job_status', sa.String(length=20), nullable=True),
        sa.Column('job_attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('job_error', sa.Text(), nullable=True),
        sa.Column('job_cancel_requested', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('job_lease_owner', sa.String(length=200), nullable=True),
        sa.Column('job_lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('job_queued_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('job_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('job_finished_at', sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for table in LIFECYCLE_TABLES:
        with op.batch_alter_table(table) as batch:
            for column in _lifecycle_columns():
                batch.add_column(column)
    with op.batch_alter_table('campanhas') as batch:
        batch.add_column(sa.Column('job_id', sa.String(length=36), nullable=True))
        batch.create_index('ix_campanhas_job_id', ['job_id'])
    with op.batch_alter_table('portal_integracoes') as batch:
        batch.add_column(sa.Column('submetido_em', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE portal_integracoes SET job_attempts = tentativas, job_finished_at = finalizado_em, "
               "job_status = CASE status WHEN 'pendente' THEN 'queued' WHEN 'processando' THEN 'started' "
               "WHEN 'agendado' THEN 'finished' WHEN 'erro' THEN 'failed' ELSE 'cancelled' END")
    op.execute("UPDATE campanhas SET job_id = COALESCE(envio_job_id, validacao_job_id), "
               "job_status = CASE status WHEN 'validando' THEN 'started' WHEN 'enviando' THEN 'started' "
               "WHEN 'erro' THEN 'failed' WHEN 'cancelada' THEN 'cancelled' ELSE 'finished' END "
               "WHERE COALESCE(envio_job_id, validacao_job_id) IS NOT NULL")
    with op.batch_alter_table('portal_integracoes') as batch:
        batch.drop_column('tentativas')
        batch.drop_column('finalizado_em')


def downgrade() -> None:
    with op.batch_alter_table('portal_integracoes') as batch:
        batch.add_column(sa.Column('tentativas', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('finalizado_em', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE portal_integracoes SET tentativas = job_attempts, finalizado_em = job_finished_at")
    with op.batch_alter_table('portal_integracoes') as batch:
        batch.drop_column('submetido_em')
    with op.batch_alter_table('campanhas') as batch:
        batch.drop_index('ix_campanhas_job_id')
        batch.drop_column('job_id')
    for table in LIFECYCLE_TABLES:
        with op.batch_alter_table(table) as batch:
            for column in reversed(_lifecycle_columns()):
                batch.drop_column(column.name)
