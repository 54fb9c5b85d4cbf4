"""segment sync enrolment: enrolments per method, enrol links, their justifications and pairs

Existing enrolments become the method "" (what an event without `method` means), so a store
migrated from before keeps its meaning.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.String(length=128)
SOURCE = sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "enrollment_method",
        sa.Column("source", SOURCE, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("method", ID, nullable=False),
        sa.Column("ev_time", sa.BigInteger(), nullable=False),
        sa.Column("ev_id", ID, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "course_id", "user_id", "method"),
    )
    op.create_index("ix_enrollment_method_user", "enrollment_method", ["source", "user_id"])
    op.execute(
        "INSERT INTO enrollment_method"
        " (source, course_id, user_id, method, ev_time, ev_id, active)"
        " SELECT source, course_id, user_id, '', ev_time, ev_id, active FROM enrollment"
    )
    op.create_table(
        "enrol_link",
        sa.Column("source", SOURCE, nullable=False),
        sa.Column("link_id", ID, nullable=False),
        sa.Column("ev_time", sa.BigInteger(), nullable=False),
        sa.Column("ev_id", ID, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("course_id", ID, nullable=True),
        sa.Column("segment_id", ID, nullable=True),
        sa.Column("role", ID, nullable=True),
        sa.Column("on_leave", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("source", "link_id"),
    )
    op.create_index("ix_enrol_link_course", "enrol_link", ["source", "course_id"])
    op.create_index("ix_enrol_link_segment", "enrol_link", ["source", "segment_id"])
    op.create_table(
        "enrol_justification",
        sa.Column("source", SOURCE, nullable=False),
        sa.Column("link_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("source", "link_id", "user_id"),
    )
    op.create_index(
        "ix_enrol_justification_pair", "enrol_justification", ["source", "course_id", "user_id"]
    )
    op.create_index("ix_enrol_justification_user", "enrol_justification", ["source", "user_id"])
    op.create_table(
        "enrol_pair",
        sa.Column("source", SOURCE, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("transitions", sa.Integer(), nullable=False),
        sa.Column("held_batch", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("source", "course_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("enrol_pair")
    op.drop_index("ix_enrol_justification_user", table_name="enrol_justification")
    op.drop_index("ix_enrol_justification_pair", table_name="enrol_justification")
    op.drop_table("enrol_justification")
    op.drop_index("ix_enrol_link_segment", table_name="enrol_link")
    op.drop_index("ix_enrol_link_course", table_name="enrol_link")
    op.drop_table("enrol_link")
    op.drop_index("ix_enrollment_method_user", table_name="enrollment_method")
    op.drop_table("enrollment_method")
