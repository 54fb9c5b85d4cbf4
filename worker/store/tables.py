"""The state store's tables. Alembic migrations create them; this module only describes them.

Times are integers (microseconds since the epoch, UTC): exact, portable between SQLite and
PostgreSQL, and cheap to compare. Every row is scoped to its `source` (the LMS site).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

ID = String(128)
SOURCE = String(255)
# SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for a long-lived log.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

# Events already applied, by (source, id): a re-delivered event is skipped at once.
processed_event = Table(
    "processed_event",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("event_id", ID, primary_key=True),
)

# The newest event per fact. `active` is what that event says (created/added vs deleted/removed).
# Enrolments: one fact per method (`method` "" when the event names none). (course, user) is
# enrolled while any of its methods is, at the newest active method's time
# (`worker.domain.facts.enrolment_of`): the readers take that from these rows; no table of its
# own (migration 0008).
enrollment_method = Table(
    "enrollment_method",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("course_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("method", ID, primary_key=True),
    Column("ev_time", BigInteger, nullable=False),
    Column("ev_id", ID, nullable=False),
    Column("active", Boolean, nullable=False),
    Index("ix_enrollment_method_user", "source", "user_id"),
)

membership = Table(
    "membership",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("segment_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("ev_time", BigInteger, nullable=False),
    Column("ev_id", ID, nullable=False),
    Column("active", Boolean, nullable=False),
    Index("ix_membership_user", "source", "user_id"),
)

# A link's attributes come from its newest `created` event; a `deleted` newest event keeps them.
link = Table(
    "link",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("link_id", ID, primary_key=True),
    Column("ev_time", BigInteger, nullable=False),
    Column("ev_id", ID, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("course_id", ID, nullable=True),
    Column("segment_id", ID, nullable=True),
    Column("group_id", ID, nullable=True),
    Index("ix_link_course", "source", "course_id"),
    Index("ix_link_segment", "source", "segment_id"),
)

# Segment enrol links ("User Segment Sync"): ids of their own; attributes as for `link`.
enrol_link = Table(
    "enrol_link",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("link_id", ID, primary_key=True),
    Column("ev_time", BigInteger, nullable=False),
    Column("ev_id", ID, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("course_id", ID, nullable=True),
    Column("segment_id", ID, nullable=True),
    Column("role", ID, nullable=True),
    Column("on_leave", String(16), nullable=True),
    Index("ix_enrol_link_course", "source", "course_id"),
    Index("ix_enrol_link_segment", "source", "segment_id"),
)

# Deletion marks: the newest deletion time per segment, group and course.
segment_deletion = Table(
    "segment_deletion",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("segment_id", ID, primary_key=True),
    Column("at", BigInteger, nullable=False),
)

group_deletion = Table(
    "group_deletion",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("course_id", ID, primary_key=True),
    Column("group_id", ID, primary_key=True),
    Column("at", BigInteger, nullable=False),
)

course_deletion = Table(
    "course_deletion",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("course_id", ID, primary_key=True),
    Column("at", BigInteger, nullable=False),
)

# Materialised "link L justifies user U": active L, U enrolled in L's course and in L's segment.
justification = Table(
    "justification",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("link_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("course_id", ID, nullable=False),
    Column("group_id", ID, nullable=False),
    Index("ix_justification_pair", "source", "course_id", "group_id", "user_id"),
    Index("ix_justification_user", "source", "user_id"),
)

# Per (course, group, user): how many commands it has had. Odd = currently "in the group".
pair = Table(
    "pair",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("course_id", ID, primary_key=True),
    Column("group_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("transitions", Integer, nullable=False),
    # Set while the pair has commands held by the brake: later ones queue behind them.
    Column("held_batch", BigInteger, nullable=True),
    # The last command's reason, cause and time, for `segsync why`.
    Column("last_reason", String(32), nullable=True),
    Column("last_caused_by", ID, nullable=True),
    Column("last_time", BigInteger, nullable=True),
    Index("ix_pair_user", "source", "user_id"),
)

# Materialised "enrol link L wants user U enrolled in its course".
enrol_justification = Table(
    "enrol_justification",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("link_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("course_id", ID, nullable=False),
    Index("ix_enrol_justification_pair", "source", "course_id", "user_id"),
    Index("ix_enrol_justification_user", "source", "user_id"),
)

# Per (course, user): how many enrolment commands it has had. Odd = currently enrolled by us.
enrol_pair = Table(
    "enrol_pair",
    metadata,
    Column("source", SOURCE, primary_key=True),
    Column("course_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("transitions", Integer, nullable=False),
    Column("held_batch", BigInteger, nullable=True),
    Column("last_reason", String(32), nullable=True),
    Column("last_caused_by", ID, nullable=True),
    Column("last_time", BigInteger, nullable=True),
    Index("ix_enrol_pair_user", "source", "user_id"),
)

# Transactional outbox: commands and DLQ records written with the state that caused them.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    # A role (worker/destinations.py), resolved to the configured topic when published.
    Column("destination", String(32), nullable=False),
    Column("key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=True),
    Column("headers", LargeBinary, nullable=True),
    # The record's own timestamp (DLQ copies keep the original's); null: the producer's clock.
    Column("timestamp_ms", BigInteger, nullable=True),
    # A command's type, reason and cause time (LMS), for the metrics after its ack; null on
    # DLQ copies. (The value holds them too, but re-parsing every command costs.)
    Column("command_type", String(64), nullable=True),
    Column("reason", String(32), nullable=True),
    Column("cause_time_us", BigInteger, nullable=True),
)

# Input records dead-lettered so far, once per store whatever the consumer group (a replay
# dead-letters nothing again); also the DLQ flood window's memory across restarts.
# `digest` tells a record apart from another one at the same offset of a re-created topic.
dead_letter = Table(
    "dead_letter",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("digest", LargeBinary, nullable=False),
)

# Next input offset per (consumer group, topic, partition): the source of truth for seeking.
input_offset = Table(
    "input_offset",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# Counters for `status`, kept per input partition so that two workers never update one row.
counter = Table(
    "counter",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Mass-removal brake: removals of one event held for an operator's release or discard.
held_batch = Table(
    "held_batch",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("source", SOURCE, nullable=False),
    Column("cause_event_id", ID, nullable=False),
    Column("cause_type", String(64), nullable=False),
    Column("detail", String(1000), nullable=False),  # which group, how many of how many
    Column("status", String(16), nullable=False),  # held | released | discarded
    Column("commands", Integer, nullable=False),
    Index("ux_held_batch_cause", "source", "cause_event_id", unique=True),
)

held_command = Table(
    "held_command",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("batch_id", BigInteger, nullable=False, index=True),
    Column("course_id", ID, nullable=False),
    Column("group_id", ID, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("destination", String(32), nullable=False),
    Column("key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=True),
    Column("headers", LargeBinary, nullable=True),
    Column("command_type", String(64), nullable=True),
    Column("reason", String(32), nullable=True),
    Column("cause_time_us", BigInteger, nullable=True),
)
