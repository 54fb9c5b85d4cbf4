"""(course, user)'s enrolment is read from its methods' rows; the `enrollment` table goes

It held what the methods make of (course, user) (`worker.domain.facts.enrolment_of`), written
again with every enrolment event: a second row and two index entries per enrolment, about a
tenth of PostgreSQL's time over the benchmark's history. The readers now take the active
methods of (course, user) and the newest of their times, which is what it held for an
active enrolment (an inactive one's time is never read).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(length=128)
SOURCE = sa.String(length=255)


def upgrade() -> None:
    op.drop_index("ix_enrollment_user", table_name="enrollment")
    op.drop_table("enrollment")


def downgrade() -> None:
    op.create_table(
        "enrollment",
        sa.Column("source", SOURCE, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("ev_time", sa.BigInteger(), nullable=False),
        sa.Column("ev_id", ID, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "course_id", "user_id"),
    )
    op.create_index("ix_enrollment_user", "enrollment", ["source", "user_id"])
    # What `enrolment_of` makes of the methods: the newest active one, else the newest (ids
    # compared byte-wise, as Python does; SQLite's default collation already is).
    byte_wise = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(
        "INSERT INTO enrollment (source, course_id, user_id, ev_time, ev_id, active)"
        " SELECT source, course_id, user_id, ev_time, ev_id, active FROM ("
        "  SELECT source, course_id, user_id, ev_time, ev_id, active, row_number() OVER ("
        "    PARTITION BY source, course_id, user_id"
        f"    ORDER BY active DESC, ev_time DESC, ev_id{byte_wise} DESC) AS n"
        "  FROM enrollment_method) m WHERE n = 1"
    )
