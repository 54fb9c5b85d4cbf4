"""/metrics as Prometheus scrapes it (prometheus_client's exposition: content negotiation,
gzip), HEAD on every path, and no `_created` series; one keep-alive connection throughout."""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Iterator

import pytest

from worker.observability import metrics
from worker.observability.health import LoopState
from worker.observability.server import HttpServer

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture
def conn() -> Iterator[http.client.HTTPConnection]:
    state = LoopState(liveness_timeout_s=30, outbox_stuck_s=10)
    state.started = state.joined = state.broker_ok = state.db_ok = True
    server = HttpServer("127.0.0.1", 0, state)
    server.start()
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        yield c
    finally:
        c.close()
        server.stop()


def request(
    c: http.client.HTTPConnection, method: str, path: str, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    c.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    resp = c.getresponse()
    body = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def test_plain_text_by_default_without_created_series(conn: http.client.HTTPConnection) -> None:
    metrics.record_retry("poll")
    metrics.BATCH_SECONDS.observe(0.1)
    code, headers, body = request(conn, "GET", "/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain")
    assert int(headers["content-length"]) == len(body)
    text = body.decode()
    assert "segsync_retries_total{" in text and "segsync_batch_duration_seconds_count" in text
    assert "_created" not in text


def test_openmetrics_when_asked(conn: http.client.HTTPConnection) -> None:
    metrics.record_retry("poll")
    code, headers, body = request(conn, "GET", "/metrics", Accept=OPENMETRICS)
    assert code == 200 and headers["content-type"].startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n") and "segsync_retries_total{" in text
    assert "_created" not in text


def test_gzip_when_accepted(conn: http.client.HTTPConnection) -> None:
    code, headers, body = request(conn, "GET", "/metrics", Accept_Encoding="gzip")
    assert code == 200 and headers["content-encoding"] == "gzip"
    assert int(headers["content-length"]) == len(body)
    assert b"segsync_retries_total" in gzip.decompress(body)
    # the answer depends on these request headers: caches must keep them apart
    assert {"accept", "accept-encoding"} <= {v.strip().lower() for v in headers["vary"].split(",")}


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz", "/nope"])
def test_head_answers_like_get_without_a_body(conn: http.client.HTTPConnection, path: str) -> None:
    code, headers, body = request(conn, "HEAD", path)
    assert body == b""
    get_code, get_headers, get_body = request(conn, "GET", path)  # same connection: framed
    assert code == get_code and headers["content-type"] == get_headers["content-type"]
    # The metrics text changes between two scrapes (process metrics), and /healthz says how
    # many seconds since the last progress (one more digit from 9.999 to 10.0).
    if path not in ("/metrics", "/healthz"):
        assert int(headers["content-length"]) == len(get_body)
    assert int(headers["content-length"]) > 0
