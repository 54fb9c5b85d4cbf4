"""the last command of each pair (reason, cause, time) and pair lookups by user, for `why`

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("pair", "enrol_pair"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("last_reason", sa.String(length=32), nullable=True))
            batch.add_column(sa.Column("last_caused_by", sa.String(length=128), nullable=True))
            batch.add_column(sa.Column("last_time", sa.BigInteger(), nullable=True))
        op.create_index(f"ix_{table}_user", table, ["source", "user_id"])


def downgrade() -> None:
    for table in ("pair", "enrol_pair"):
        op.drop_index(f"ix_{table}_user", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("last_time")
            batch.drop_column("last_caused_by")
            batch.drop_column("last_reason")
