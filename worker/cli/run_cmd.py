"""`segsync run`: consume until stopped, or until caught up."""

from __future__ import annotations

from worker import gc_policy, logs, observability, shutdown
from worker.adapters.publisher_process import ProcessPublisher
from worker.cli.common import brake_limits, dlq_limit, settings_and_logs
from worker.errors import FatalError
from worker.settings import Settings
from worker.store.urls import outbox_in_own_process


def run(until_caught_up: bool) -> None:
    try:
        _run(until_caught_up)
    except shutdown.StopRequested as exc:
        # Stopped during an outage: what is not published stays in the outbox, the stored
        # offsets say where to resume; a stop is a success (exit 0), not a crash.
        logs.get("segsync.run").warning("stopped while waiting out an outage", during=str(exc))


def _run(until_caught_up: bool) -> None:
    settings = settings_and_logs()
    logs.protect(settings)
    outbox = None
    if outbox_in_own_process(settings.sqlalchemy_url()):
        # PostgreSQL: the outbox is published by a process of its own (ADR 0015). Started
        # first, so that its imports and connections overlap this process's own (about a
        # second and a half) instead of delaying the first publish; a start-up that fails
        # below kills it unasked.
        outbox = ProcessPublisher(settings)
        outbox.start()
    try:
        _consume(settings, outbox, until_caught_up)
    finally:
        if outbox is not None:
            outbox.close()


def _consume(settings: Settings, outbox: ProcessPublisher | None, until_caught_up: bool) -> None:
    from kafka.errors import KafkaError

    from worker.adapters.kafka_input import KafkaInput
    from worker.adapters.kafka_io import KafkaSink
    from worker.adapters.security import check_kafka, describe_kafka
    from worker.adapters.topics import wait_for_topics
    from worker.engine.apply import BatchConfig
    from worker.engine.loop import Worker
    from worker.store.factory import open_store_waiting

    # Credentials and certificates first, with one metadata request: a wrong password stops
    # here with one line, before the store is touched or anything is consumed.
    check_kafka(settings, stop=shutdown.requested)
    # Every topic read or written must exist (the worker never creates one): a typo stops
    # here with exit 2 instead of queueing commands for a topic nobody reads.
    wait_for_topics(settings, shutdown.requested)
    # A database not reachable yet is waited for, like one lost while running.
    store = open_store_waiting(
        settings.sqlalchemy_url(), settings.retry_deadline_s, shutdown.requested
    )
    try:
        serving = observability.serve(settings, store)
    except OSError as exc:
        store.close()
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise FatalError(f"cannot serve metrics on {where}: {exc}") from exc
    cfg = BatchConfig(
        group_id=settings.group_id,
        chunk=settings.backfill_chunk,
        brake=brake_limits(settings),  # the mass-removal brake (issue 5)
        dlq_limit=dlq_limit(settings),  # the DLQ flood halt
        max_future_s=settings.max_future_s,
    )
    where = describe_kafka(settings)
    sink = source = None
    try:
        if outbox is None:  # SQLite's one writer publishes here
            try:
                sink = KafkaSink(settings)
            except KafkaError as exc:
                raise FatalError(f"cannot connect to Kafka at {where}: {exc}") from exc
        worker = Worker(
            store,
            sink,
            cfg,
            settings.retry_deadline_s,
            settings.poll_timeout_ms,
            settings.apply_lanes,
            outbox.publish if outbox is not None else None,
        )
        try:
            source = KafkaInput(settings, worker.stored_offsets)
        except KafkaError as exc:
            raise FatalError(f"cannot connect to Kafka at {where}: {exc}") from exc
        # Batches of thousands of short-lived objects: collect cycles less often (measured).
        thresholds = gc_policy.for_batches()
        logs.get("segsync.run").info("consuming", gc_thresholds=list(thresholds))
        observability.started()
        worker.run(source, list(settings.input_topics), until_caught_up=until_caught_up)
        # SIGTERM / SIGINT or caught up: the batch in hand is applied; publish what is owed.
        observability.stopping()
        worker.publish()
    finally:
        observability.stopping()
        if source is not None:
            source.close()
        if sink is not None:
            sink.close()
        serving.stop()
        store.close()
