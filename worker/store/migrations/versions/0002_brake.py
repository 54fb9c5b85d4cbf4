"""mass-removal brake: held batches and commands

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "held_batch",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("cause_event_id", sa.String(length=128), nullable=False),
        sa.Column("cause_type", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("commands", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_held_batch_cause", "held_batch", ["source", "cause_event_id"], unique=True)
    op.create_table(
        "held_command",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_held_command_batch_id", "held_command", ["batch_id"])
    with op.batch_alter_table("pair") as batch:
        batch.add_column(sa.Column("held_batch", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pair") as batch:
        batch.drop_column("held_batch")
    op.drop_index("ix_held_command_batch_id", table_name="held_command")
    op.drop_table("held_command")
    op.drop_index("ux_held_batch_cause", table_name="held_batch")
    op.drop_table("held_batch")
