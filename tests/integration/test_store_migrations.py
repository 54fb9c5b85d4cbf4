"""Alembic migrations on PostgreSQL (psycopg 3) and SQLite through SQLAlchemy 2, and a row
round-trip through every table kind the engine relies on."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, inspect, select

from worker.store import outbox_repo
from worker.store.db import make_engine
from worker.store.migrate import alembic_config, current_revision, upgrade
from worker.store.tables import metadata


def test_migrate_and_round_trip(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and current_revision(engine) == head
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    record = outbox_repo.OutboxRecord("command", b"k", b"\x00\xffvalue", [("h", b"\x00\xfe")])
    with engine.connect() as conn:
        outbox_repo.add(conn, [record])
        outbox_repo.save_offsets(conn, "g", {("in", 2): 42})
        outbox_repo.bump_counters(conn, {("in", 2, "events.dlq"): 3})
        outbox_repo.bump_counters(conn, {("in", 2, "events.dlq"): 2})
        conn.commit()
    with engine.connect() as conn:
        (got,) = outbox_repo.pending(conn, 10)
        assert (got.destination, got.key, got.value, got.headers) == (
            "command",
            b"k",
            b"\x00\xffvalue",
            [("h", b"\x00\xfe")],
        )
        assert outbox_repo.load_offsets(conn, "g", [("in", 2)]) == {("in", 2): 42}
        assert outbox_repo.counter_totals(conn) == {"events.dlq": 5}
        assert conn.execute(select(metadata.tables["pair"])).all() == []
    engine.dispose()


def test_postgres_sessions_keep_their_plan_mode(pg_url: str) -> None:
    """Prepared statements run one generic plan (see db.PG_SESSION_OPTIONS): the setting holds
    past psycopg's prepare threshold, and `options=` in the URL survive."""
    sep = "&" if "?" in pg_url else "?"
    engine = make_engine(f"{pg_url}{sep}options=-c%20statement_timeout%3D123456")
    with engine.connect() as conn:
        for _ in range(8):  # psycopg prepares from the 5th execution on
            mode = conn.exec_driver_sql("SHOW plan_cache_mode").scalar()
            assert mode == "force_generic_plan"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "123456ms"
    engine.dispose()


def test_migrated_schema_is_tables_py(db_url: str) -> None:
    """The migrations build exactly what worker/store/tables.py declares (columns, types,
    nullability, keys, indexes, constraints): Alembic's autogenerate finds nothing to do."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, metadata)
        # The comparison sees a difference where there is one: a column tables.py would add.
        altered = MetaData()
        for table in metadata.sorted_tables:
            table.to_metadata(altered)
        altered.tables["outbox"].append_column(Column("probe", Integer, nullable=True))
        probe = compare_metadata(context, altered)
    engine.dispose()
    assert diff == []
    assert [(d[0], d[2], d[3].name) for d in probe] == [("add_column", "outbox", "probe")]
