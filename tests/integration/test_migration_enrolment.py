"""Migration 0006 (enrolment methods): a store written before it keeps its enrolments, as the
method "" (what an event without `method` means), on SQLite and PostgreSQL; an unenrolment
without a method then ends them and one with another method does not."""

from __future__ import annotations

from alembic import command
from sqlalchemy import column, insert, select, table

from tests.support.engine_harness import apply_in_batches, outbox_commands, records_of
from tests.support.scenario_kit import T0, Lms
from worker.store.db import make_engine
from worker.store.migrate import alembic_config, upgrade
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


def test_going_back_before_0008_rebuilds_the_enrolments(db_url: str) -> None:
    """Migration 0008's downgrade writes `enrollment` as `enrolment_of` makes it of the methods:
    the newest active method, else the newest of all (ids byte-wise: "B" before "a")."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        methods = {
            ("u1", ""): (T0, "a", True),  # u1: its newer method ended; the active one stands
            ("u1", "manual"): (T0 + 5, "b", False),
            ("u2", ""): (T0, "x", False),  # u2: none active; the newest of all stands
            ("u2", "manual"): (T0 + 3, "y", False),
            ("u3", ""): (T0 + 4, "B", True),  # u3: a tie in time, the greater id ("a")
            ("u3", "manual"): (T0 + 4, "a", True),
        }
        with engine.begin() as conn:
            conn.execute(
                insert(enrollment_method),
                [
                    {"source": "site-a", "course_id": "C", "user_id": u, "method": m,
                     "ev_time": t, "ev_id": i, "active": on}
                    for (u, m), (t, i, on) in methods.items()
                ],
            )  # fmt: skip
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        with engine.connect() as conn:
            got = conn.execute(select(enrollment).order_by(enrollment.c.user_id)).all()
        assert [(r.user_id, r.ev_time, r.ev_id, r.active) for r in got] == [
            ("u1", T0, "a", True),
            ("u2", T0 + 3, "y", False),
            ("u3", T0 + 4, "a", True),
        ]
    finally:
        engine.dispose()
