"""`segsync run`: consume until stopped, or until caught up."""

from __future__ import annotations

from worker.cli.common import open_store, settings_and_logs
from worker.engine.apply import BatchConfig
from worker.engine.brake import BrakeLimits
from worker.engine.loop import Worker
from worker.errors import FatalError
from worker.settings import Settings


def brake_limits(settings: Settings) -> BrakeLimits | None:
    limits = BrakeLimits(
        settings.brake_max_removals, settings.brake_max_share, settings.brake_min_removals
    )
    return None if not (limits.max_removals or limits.max_share) else limits


def run(until_caught_up: bool) -> None:
    from kafka.errors import KafkaError

    from worker.adapters.kafka_io import KafkaInput, KafkaSink

    settings = settings_and_logs()
    engine = open_store(settings)
    cfg = BatchConfig(
        group_id=settings.group_id,
        command_topic=settings.command_topic,
        dlq_topic=settings.dlq_topic,
        chunk=settings.backfill_chunk,
        brake=brake_limits(settings),
    )
    try:
        sink = KafkaSink(settings)
    except KafkaError as exc:
        raise FatalError(f"cannot connect to Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    worker = Worker(engine, sink, cfg, settings.retry_deadline_s, settings.poll_timeout_ms)
    try:
        source = KafkaInput(settings, worker.stored_offsets)
    except KafkaError as exc:
        raise FatalError(f"cannot connect to Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        worker.run(source, list(settings.input_topics), until_caught_up=until_caught_up)
        # SIGTERM / SIGINT or caught up: the batch in hand is applied; publish what is owed.
        worker.publish()
    finally:
        source.close()
        sink.close()
        engine.dispose()
