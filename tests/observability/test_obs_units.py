"""Liveness and readiness rules, the HTTP server, the event counting and log redaction,
in-process (no broker needed)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import structlog

from tests.observability.obs_support import get, probe, scrape, total
from worker import logs
from worker.observability import metrics
from worker.observability.health import LoopState, StoreSampler
from worker.observability.server import HttpServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> LoopState:
    s = LoopState(liveness_timeout_s=30, outbox_stuck_s=10, clock=clock)
    s.started = s.joined = s.broker_ok = s.db_ok = True
    return s


@pytest.fixture
def server(state: LoopState) -> Iterator[HttpServer]:
    srv = HttpServer("127.0.0.1", 0, state)
    srv.start()
    yield srv
    srv.stop()


def test_liveness_fails_only_when_stalled_with_work_pending(
    state: LoopState, clock: Clock, server: HttpServer
) -> None:
    assert probe(server.port, "/healthz")[0] == 200
    clock.now += 31  # no progress for longer than the timeout ...
    assert probe(server.port, "/healthz")[0] == 200  # ... but idle: alive
    for pending in ("in_batch", "lag", "outbox_backlog"):
        setattr(state, pending, True if pending == "in_batch" else 5)
        code, body = probe(server.port, "/healthz")
        assert code == 503 and body["work_pending"] is True and body["status"] == "fail"
        setattr(state, pending, False if pending == "in_batch" else 0)
    state.lag = 5
    state.progress()  # the loop moves again
    assert probe(server.port, "/healthz")[0] == 200


def test_readiness_checks(state: LoopState, clock: Clock, server: HttpServer) -> None:
    code, body = probe(server.port, "/readyz")
    assert code == 200 and all(body["checks"].values())
    for attr in ("broker_ok", "db_ok", "joined", "started"):
        setattr(state, attr, False)
        code, body = probe(server.port, "/readyz")
        assert code == 503 and not all(body["checks"].values())
        setattr(state, attr, True)
    state.outbox_backlog = 3
    clock.now += 11  # rows waiting, no successful publish for longer than outbox_stuck_s
    code, body = probe(server.port, "/readyz")
    assert code == 503 and body["checks"]["outbox_not_stuck"] is False
    state.published()
    assert probe(server.port, "/readyz")[0] == 200
    state.stopping = True
    assert probe(server.port, "/readyz")[0] == 503


def test_metrics_endpoint_and_unknown_paths(server: HttpServer) -> None:
    metrics.record_retry("publish outbox")
    m = scrape(server.port)
    assert total(m, "segsync_retries_total", what="publish outbox") >= 1
    assert get(server.port, "/nope")[0] == 404


def test_events_counted_by_type_and_outcome() -> None:
    before = scrape_local()
    types = ["lms.enrollment.created"] * 4 + ["lms.segment.deleted", None, None]
    counts = {
        "events.applied.lms.enrollment.created": 2,
        "events.stale.lms.enrollment.created": 1,
        "events.applied.lms.segment.deleted": 1,
        "events.duplicate": 1,
        "events.dlq": 1,
        "events.unknown": 1,
        "commands.add": 7,
    }
    metrics.record_events(types, counts)
    after = scrape_local()
    diff = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert diff == {
        ("lms.enrollment.created", "applied"): 2,
        ("lms.enrollment.created", "stale"): 1,
        ("lms.enrollment.created", "duplicate"): 1,
        ("lms.segment.deleted", "applied"): 1,
        ("other", "dlq"): 1,
        ("other", "unknown"): 1,
    }


def test_published_records_counted_as_one_observe_each_would() -> None:
    """The batch's counters and lag histogram move exactly as one increment and one
    observe() per record would (values on bucket bounds, zero, past the last bound)."""
    from prometheus_client import CollectorRegistry, Histogram

    from worker.destinations import COMMAND, DLQ
    from worker.ports import CommandMeta, PendingRecord

    now = 1_700_000_000.0
    lags = [0.0, 0.05, 0.05000001, 0.1, 2.5, 7.0, 86400.0, 10**6, 0.0, 0.3]
    metas = [
        CommandMeta(
            "lms.group.member.added", "link_created" if i % 3 else "", int((now - lag) * 1e6)
        )
        for i, lag in enumerate(lags)
    ]
    records = [PendingRecord(COMMAND, b"k", b"v", [], i, meta=m) for i, m in enumerate(metas)]
    records += [PendingRecord(COMMAND, b"k", b"v", [], 98), PendingRecord(DLQ, b"k", b"v", [], 99)]

    def state() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in metrics.REGISTRY.collect()
            for s in family.samples
            if s.name.startswith(("segsync_commands", "segsync_dlq", "segsync_event_to_publish"))
        }

    before = state()
    metrics.record_published(records, now)
    after = state()
    moved = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}

    reference = CollectorRegistry()
    lag = Histogram("ref", "", buckets=metrics.PUBLISH_LAG._upper_bounds, registry=reference)
    for m in metas:
        lag.observe(max(0.0, now - m.cause_time_us / 1e6))
    want = {
        (
            s.name.replace("ref", "segsync_event_to_publish_lag_seconds"),
            tuple(s.labels.items()),
        ): s.value
        for family in reference.collect()
        for s in family.samples
        if s.value
    }
    want[
        (
            "segsync_commands_published_total",
            (("reason", "link_created"), ("type", "lms.group.member.added")),
        )
    ] = 6
    want[
        (
            "segsync_commands_published_total",
            (("reason", "other"), ("type", "lms.group.member.added")),
        )
    ] = 4
    want[("segsync_commands_published_total", (("reason", "other"), ("type", "other")))] = 1
    want[("segsync_dlq_published_total", ())] = 1
    assert moved == pytest.approx(want)


def scrape_local() -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for family in metrics.REGISTRY.collect():
        for s in family.samples:
            if s.name == "segsync_events_consumed_total":
                out[(s.labels["type"], s.labels["outcome"])] = s.value
    return out


def test_sampler_reads_backlog_without_locking_sqlite(tmp_path: Path, clock: Clock) -> None:
    from sqlalchemy import text

    from worker.store.factory import open_store

    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    state = LoopState(clock=clock)
    with store.engine.connect() as conn:  # a writer holds the write lock meanwhile
        conn.execute(text("INSERT INTO outbox (destination) VALUES ('command')"))
        conn.commit()
        conn.execute(text("DELETE FROM outbox WHERE 1 = 0"))
        started = time.monotonic()
        StoreSampler(store, state).sample_once()
        assert time.monotonic() - started < 5  # did not wait for the writer's lock
    assert state.db_ok and state.outbox_backlog == 1
    store.close()
    state2 = LoopState(clock=clock)
    missing = open_store(f"sqlite:///{tmp_path / 'missing' / 'x.sqlite'}", migrate=False)
    StoreSampler(missing, state2).sample_once()
    assert state2.db_ok is False


def test_logs_mask_secrets_and_omit_payloads() -> None:
    from worker.settings import load_settings

    settings = load_settings(
        database_url="postgresql+psycopg://u:url-pass-123@db/x",
        kafka_sasl_password="sasl-pass-456",
        database_password="db-pass-789",
    )
    logs.configure("json", "debug")
    logs.protect(settings)
    out = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(out))
    log = logs.get("test")
    log.info(
        "connecting with sasl-pass-456 to postgresql://x:other-secret@h/db",
        password="hunter2",
        value=b"raw",
        data={"user_id": "u1"},
        records=40,
        detail={"nested_token": "t", "url": "db-pass-789"},
    )
    try:
        raise RuntimeError("failed with url-pass-123")
    except RuntimeError:
        log.exception("boom")
    err = io.StringIO()
    with redirect_stderr(err):
        logging.getLogger("kafka.test").warning("auth as sasl-pass-456 failed")
    text = out.getvalue() + err.getvalue()
    for secret in ("sasl-pass-456", "other-secret", "hunter2", "db-pass-789", "url-pass-123"):
        assert secret not in text
    first = json.loads(out.getvalue().splitlines()[0])
    assert first["value"] == logs.OMITTED and first["data"] == logs.OMITTED
    assert first["records"] == 40 and first["detail"]["nested_token"] == logs.MASK
    assert logs.MASK in first["event"]
    structlog.reset_defaults()
    root = logging.getLogger()
    for h in [h for h in root.handlers if type(h).__name__ == "_ToStructlog"]:
        root.removeHandler(h)
