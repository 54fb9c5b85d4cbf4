"""initial state store

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "counter",
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", "name"),
    )
    op.create_table(
        "course_deletion",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "course_id"),
    )
    op.create_table(
        "enrollment",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("ev_time", sa.BigInteger(), nullable=False),
        sa.Column("ev_id", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "course_id", "user_id"),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index("ix_enrollment_user", ["source", "user_id"], unique=False)

    op.create_table(
        "group_deletion",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "course_id", "group_id"),
    )
    op.create_table(
        "input_offset",
        sa.Column("group_id", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "topic", "partition"),
    )
    op.create_table(
        "justification",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("link_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("source", "link_id", "user_id"),
    )
    with op.batch_alter_table("justification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_justification_pair", ["source", "course_id", "group_id", "user_id"], unique=False
        )
        batch_op.create_index("ix_justification_user", ["source", "user_id"], unique=False)

    op.create_table(
        "link",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("link_id", sa.String(length=128), nullable=False),
        sa.Column("ev_time", sa.BigInteger(), nullable=False),
        sa.Column("ev_id", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=True),
        sa.Column("segment_id", sa.String(length=128), nullable=True),
        sa.Column("group_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("source", "link_id"),
    )
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.create_index("ix_link_course", ["source", "course_id"], unique=False)
        batch_op.create_index("ix_link_segment", ["source", "segment_id"], unique=False)

    op.create_table(
        "membership",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("segment_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("ev_time", sa.BigInteger(), nullable=False),
        sa.Column("ev_id", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "segment_id", "user_id"),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index("ix_membership_user", ["source", "user_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "pair",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("course_id", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("transitions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "course_id", "group_id", "user_id"),
    )
    op.create_table(
        "processed_event",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id"),
    )
    op.create_table(
        "segment_deletion",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("segment_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "segment_id"),
    )


def downgrade() -> None:

    op.drop_table("segment_deletion")
    op.drop_table("processed_event")
    op.drop_table("pair")
    op.drop_table("outbox")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index("ix_membership_user")

    op.drop_table("membership")
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.drop_index("ix_link_segment")
        batch_op.drop_index("ix_link_course")

    op.drop_table("link")
    with op.batch_alter_table("justification", schema=None) as batch_op:
        batch_op.drop_index("ix_justification_user")
        batch_op.drop_index("ix_justification_pair")

    op.drop_table("justification")
    op.drop_table("input_offset")
    op.drop_table("group_deletion")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_user")

    op.drop_table("enrollment")
    op.drop_table("course_deletion")
    op.drop_table("counter")
