"""Migration 0006 (enrolment methods): a store written before it keeps its enrolments, as the
method "" (what an event without `method` means), on SQLite and PostgreSQL; an unenrolment
without a method then ends them and one with another method does not."""

from __future__ import annotations

from sqlalchemy import column, insert, select, table

from tests.support.engine_harness import apply_in_batches, outbox_commands, records_of
from tests.support.scenario_kit import T0, Lms
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.postgres import PostgresStore
from worker.store.sqlite import SqliteStore
from worker.store.tables import enrollment_method

# The table as revision 0005 had it (migration 0008 dropped it).
enrollment = table(
    "enrollment",
    *(column(c) for c in ("source", "course_id", "user_id", "ev_time", "ev_id", "active")),
)


def test_old_enrolments_become_the_empty_method(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                insert(enrollment),
                [
                    {"source": "site-a", "course_id": "C", "user_id": u, "ev_time": T0,
                     "ev_id": f"old-{u}", "active": True}
                    for u in ("u1", "u2")
                ],
            )  # fmt: skip
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                select(enrollment_method).order_by(enrollment_method.c.user_id)
            ).all()
        assert [(r.user_id, r.method, r.ev_id, r.active) for r in rows] == [
            ("u1", "", "old-u1", True),
            ("u2", "", "old-u2", True),
        ]
        lms = Lms()
        history = [
            lms.join("u1", "S", 1),
            lms.join("u2", "S", 1),
            lms.link("L", "C", "S", "G", 2),
            lms.ev("lms.enrollment.deleted", 3, user_id="u1", course_id="C"),
            lms.ev("lms.enrollment.deleted", 3, user_id="u2", course_id="C", method="manual"),
        ]
        store = SqliteStore(engine) if db_url.startswith("sqlite") else PostgresStore(engine)
        apply_in_batches(store, records_of(history), 1)
        got = [(c["type"], c["data"]["user_id"]) for c in outbox_commands(store)]
        assert got == [
            ("lms.group.member.add", "u1"),
            ("lms.group.member.add", "u2"),
            ("lms.group.member.remove", "u1"),  # the one method it had ended
        ]
    finally:
        engine.dispose()
