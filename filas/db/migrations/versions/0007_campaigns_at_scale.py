"""campaigns at scale: opt-outs kept as keyed hashes, contact template fields, Cloud API templates,
follow-up settings per campaign, delivery statuses

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

from filas.phones import phone_key

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campanhas') as batch:
        batch.add_column(sa.Column('modelo', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('modelo_idioma', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('modelo_parametros', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('follow_up_dias', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('follow_up_max', sa.Integer(), nullable=True))

    with op.batch_alter_table('contatos') as batch:
        batch.add_column(sa.Column('telefone_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('campos', sa.JSON(), nullable=True))
    _hash_column('contatos', 'id', 'telefone', 'telefone_hash')
    with op.batch_alter_table('contatos') as batch:
        batch.alter_column('telefone_hash', existing_type=sa.String(length=64), nullable=False)
        batch.create_index('ix_contatos_telefone_hash', ['telefone_hash'])

    with op.batch_alter_table('mensagens') as batch:
        batch.add_column(sa.Column('entrega', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('entrega_em', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_mensagens_gateway_message_id', ['gateway_message_id'])

    # Opt-outs: the number itself becomes its keyed hash (filas.phones.phone_key).
    with op.batch_alter_table('opt_outs') as batch:
        batch.add_column(sa.Column('telefone_hash', sa.String(length=64), nullable=True))
    _hash_column('opt_outs', 'telefone', 'telefone', 'telefone_hash')
    _drop_duplicate_hashes()
    primary_key = sa.inspect(op.get_bind()).get_pk_constraint('opt_outs').get('name')
    with op.batch_alter_table('opt_outs') as batch:
        if primary_key:  # PostgreSQL's opt_outs_pkey; SQLite's is unnamed and goes with the copied table
            batch.drop_constraint(primary_key, type_='primary')
        batch.drop_column('telefone')
        batch.alter_column('telefone_hash', existing_type=sa.String(length=64), nullable=False)
        batch.create_primary_key('pk_opt_outs', ['telefone_hash'])


def downgrade() -> None:
    raise NotImplementedError("0007 keeps opt-outs as hashes only: the numbers cannot be restored")


def _hash_column(table: str, key: str, source: str, target: str) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT {key}, {source} FROM {table}")).all()
    for row_key, number in rows:
        connection.execute(sa.text(f"UPDATE {table} SET {target} = :hash WHERE {key} = :key"),
                           {"hash": phone_key(number), "key": row_key})


def _drop_duplicate_hashes() -> None:
    """A number stored with and without its ninth digit is one opt-out once keyed."""
    connection = op.get_bind()
    seen: set[str] = set()
    for number, hashed in connection.execute(sa.text("SELECT telefone, telefone_hash FROM opt_outs")).all():
        if hashed in seen:
            connection.execute(sa.text("DELETE FROM opt_outs WHERE telefone = :number"), {"number": number})
        seen.add(hashed)
