"""One small threaded HTTP server: /metrics (Prometheus), /healthz and /readyz (JSON, 200 or
503). Runs on daemon threads next to the loop; stopping it closes the socket.

/metrics is prometheus_client's own WSGI exposition (text or OpenMetrics as the scraper's
Accept asks, gzip when accepted, `name[]` filters); this server only frames its answer
(Content-Length, so connections stay alive) and answers HEAD on every path."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import make_wsgi_app

from worker.observability import metrics
from worker.observability.health import LoopState

_EXPOSITION = make_wsgi_app(metrics.REGISTRY)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            code, headers, body = self._exposition(query)
        elif path in ("/healthz", "/livez"):
            code, headers, body = _verdict(*self.server.state.live())
        elif path == "/readyz":
            code, headers, body = _verdict(*self.server.state.ready())
        else:
            body = b"not found: try /metrics, /healthz or /readyz\n"
            code, headers = 404, [("Content-Type", "text/plain")]
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _exposition(self, query: str) -> tuple[int, list[tuple[str, str]], bytes]:
        environ = {
            "REQUEST_METHOD": "GET",  # HEAD too: same headers, the body is dropped above
            "PATH_INFO": "/metrics",
            "QUERY_STRING": query,
            "HTTP_ACCEPT": self.headers.get("Accept", ""),
            "HTTP_ACCEPT_ENCODING": self.headers.get("Accept-Encoding", ""),
        }
        answer: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], *_: Any
        ) -> Callable[..., Any]:
            answer[:] = [int(status.split(" ", 1)[0]), headers]
            return lambda _data: None

        body = b"".join(_EXPOSITION(environ, start_response))
        code, headers = answer
        return code, [*headers, ("Vary", "Accept, Accept-Encoding")], body

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds: no access log."""


def _verdict(ok: bool, detail: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    body = orjson.dumps({"status": "ok" if ok else "fail", **detail}) + b"\n"
    return 200 if ok else 503, [("Content-Type", "application/json")], body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: LoopState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class HttpServer:
    """`start()` binds (raising OSError if the port is taken) and serves on a thread."""

    def __init__(self, host: str, port: int, state: LoopState) -> None:
        self._server = _Server((host, port), state)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="segsync-http",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
