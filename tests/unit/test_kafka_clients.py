"""One producer configuration for the worker's sink and the ops commands' publisher (they
had drifted: linger 5 ms against 20 ms), and one place that turns a Kafka record into an
InRecord from kafka-python's records (the worker's consumer and the ops reader); the lean
fetch (ADR 0019), which reads record batches' bytes, is the only other."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from worker.adapters import kafka_io
from worker.ops import bus
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class _Producer:
    made: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        _Producer.made.append(kwargs)

    def close(self, timeout: float | None = None) -> None:
        pass


def test_sink_and_publisher_build_the_same_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    _Producer.made = []
    monkeypatch.setattr(kafka_io, "KafkaProducer", _Producer)
    monkeypatch.setattr(bus, "KafkaProducer", _Producer, raising=False)
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1", database_url="sqlite:///x.sqlite", client_id="x"
    )
    kafka_io.KafkaSink(settings)
    bus.Publisher(settings)
    sink, publisher = _Producer.made
    # Each has a partitioner of its own (its memory of keys), of the same kind.
    assert type(sink.pop("partitioner")) is type(publisher.pop("partitioner"))
    assert sink == publisher
    assert sink["acks"] == "all" and sink["enable_idempotence"] is True
    assert sink["max_request_size"] == settings.kafka_max_request_bytes


def _calls(name: str) -> list[str]:
    """Where under worker/ a call to `name` is written."""
    found = []
    for path in sorted((ROOT / "worker").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Name) and func.id == name:
                found.append(f"{path.relative_to(ROOT)}:{func.lineno}")
    return found


def test_one_place_builds_producers_and_in_records() -> None:
    assert len(_calls("KafkaProducer")) == 1, _calls("KafkaProducer")
    places = sorted(p.split(":")[0] for p in _calls("InRecord"))
    assert places == ["worker/adapters/input_consumer.py", "worker/adapters/lean_fetch.py"], _calls(
        "InRecord"
    )


def test_in_record_from_a_consumer_record() -> None:
    from worker.adapters.input_consumer import in_record

    r = SimpleNamespace(offset=7, key=b"k", value=b"v", headers=None, timestamp=123)
    rec = in_record("t", 2, r)
    assert (rec.topic, rec.partition, rec.offset, rec.key, rec.value) == ("t", 2, 7, b"k", b"v")
    assert rec.headers == [] and rec.timestamp_ms == 123
