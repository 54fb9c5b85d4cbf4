"""One small threaded HTTP server: /metrics (Prometheus text), /healthz and /readyz (JSON,
200 or 503). Runs on daemon threads next to the loop; stopping it closes the socket."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.observability import metrics
from worker.observability.health import LoopState


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/livez"):
            self._verdict(*self.server.state.live())
        elif path == "/readyz":
            self._verdict(*self.server.state.ready())
        else:
            self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

    def _verdict(self, ok: bool, detail: dict[str, Any]) -> None:
        body = orjson.dumps({"status": "ok" if ok else "fail", **detail}) + b"\n"
        self._send(200 if ok else 503, body, "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds: no access log."""


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
