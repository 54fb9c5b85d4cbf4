"""outbox and held commands keep a destination (a role), not a topic name

Revision ID: 0004
Revises: 0003

A row written while SEGSYNC_COMMAND_TOPIC or SEGSYNC_DLQ_TOPIC held a typo kept that typo for
good. Rows now say `command` or `dlq` and the publisher resolves the topic configured when it
publishes. Existing rows: DLQ copies are the ones that carry the `segsync_error` header;
everything else the worker ever wrote to the outbox, and every held row, is a command.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DLQ_MARK = b'"segsync_error"'  # the header name as pack_headers writes it (JSON)


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("destination", sa.String(length=32), nullable=True))
    outbox = sa.table(
        "outbox",
        sa.column("seq", sa.BigInteger()),
        sa.column("headers", sa.LargeBinary()),
        sa.column("destination", sa.String()),
    )
    conn.execute(sa.update(outbox).values(destination="command"))
    dlq = [
        seq
        for seq, headers in conn.execute(sa.select(outbox.c.seq, outbox.c.headers))
        if headers is not None and DLQ_MARK in bytes(headers)
    ]
    for i in range(0, len(dlq), 1000):
        part = dlq[i : i + 1000]
        conn.execute(sa.update(outbox).where(outbox.c.seq.in_(part)).values(destination="dlq"))
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("destination", existing_type=sa.String(length=32), nullable=False)
        batch.drop_column("topic")
    with op.batch_alter_table("held_command") as batch:
        batch.add_column(
            sa.Column("destination", sa.String(length=32), nullable=False, server_default="command")
        )
    with op.batch_alter_table("held_command") as batch:
        batch.alter_column("destination", existing_type=sa.String(length=32), server_default=None)
        batch.drop_column("topic")


def downgrade() -> None:
    # The old schema wants a topic name; the destination is the best that is known.
    for table in ("outbox", "held_command"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("topic", sa.String(length=249), nullable=True))
        t = sa.table(table, sa.column("topic", sa.String()), sa.column("destination", sa.String()))
        op.get_bind().execute(sa.update(t).values(topic=t.c.destination))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("topic", existing_type=sa.String(length=249), nullable=False)
            batch.drop_column("destination")
