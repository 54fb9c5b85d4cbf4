"""outbox and held commands keep the command's type, reason and cause time

Revision ID: 0005
Revises: 0004

The published-commands metrics (count by type and reason, lag from the cause) read them from
the row instead of parsing every command's JSON again after its ack. Rows queued before
this migration have none: they count as type and reason "other", without a lag.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("command_type", "reason", "cause_time_us")


def upgrade() -> None:
    for table in ("outbox", "held_command"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("command_type", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("reason", sa.String(length=32), nullable=True))
            batch.add_column(sa.Column("cause_time_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in ("outbox", "held_command"):
        with op.batch_alter_table(table) as batch:
            for column in COLUMNS:
                batch.drop_column(column)
