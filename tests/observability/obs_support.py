"""Helpers of the observability tests: scrape the worker's HTTP server, build input records."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.kafka_io import Record

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except OSError:
        return 0, b""


def probe(port: int, path: str) -> tuple[int, dict[str, Any]]:
    code, body = get(port, path)
    return code, (json.loads(body) if body else {})


def scrape(port: int) -> Samples:
    code, body = get(port, "/metrics")
    if code != 200:
        return {}
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def by_label(samples: Samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for (n, lab), v in samples.items():
        if n == name and v:
            d = dict(lab)
            k = tuple(d.get(key, "") for key in keys)
            out[k] = out.get(k, 0.0) + v
    return out


def structured(
    event_id: str, event_type: str, data: dict[str, Any], source: str = "site-obs"
) -> Record:
    body = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "time": "2024-05-01T12:00:00Z",
        "data": data,
    }
    key = str(data.get("user_id") or data.get("course_id") or "k").encode()
    return key, json.dumps(body).encode(), [("content-type", b"application/cloudevents+json")]


def bad_records() -> Sequence[Record]:
    """Four records that go to the DLQ: not JSON, not a CloudEvent, bad data (twice)."""
    return [
        (b"u1", b"not json at all", []),
        (b"u1", json.dumps({"hello": "world"}).encode(), []),
        structured("bad-1", "lms.enrollment.created", {"user_id": "u1"}),
        structured("bad-2", "lms.segment.member.added", {"segment_id": "S1"}),
    ]


def unknown_records() -> Sequence[Record]:
    return [structured(f"unk-{i}", "lms.quiz.attempted", {"user_id": "u1"}) for i in range(3)]
