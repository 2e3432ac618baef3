"""job result on the domain rows: a status read after the Redis view expired still shows what the job returned

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

LIFECYCLE_TABLES = ('portal_integracoes', 'campanhas')


def upgrade() -> None:
    for table in LIFECYCLE_TABLES:
        op.add_column(table, sa.Column('job_result', sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in LIFECYCLE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('job_result')
