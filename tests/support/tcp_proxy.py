"""A TCP relay to a real service that a test can cut: an outage of the shared PostgreSQL for
one worker without touching the server the other tests use.

`cut()` closes the listening socket and resets every relayed connection: new connections
are refused and open ones fail, as when the database host goes away. `restore()` listens
again on the same port.

`freeze()` stops relaying without closing anything, as a paused (SIGSTOP) server: open
connections get no answer and new ones are accepted but never reach the server, until
`thaw()`; then everything sent meanwhile goes through.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Iterator


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._flowing = threading.Event()  # cleared: frozen
        self._flowing.set()
        self.relayed = 0  # bytes relayed so far: a test can tell when the client last spoke
        self._listen()

    def _listen(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(64)
        self.port = srv.getsockname()[1]
        self._listener = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return  # cut
            threading.Thread(target=self._open, args=(srv, client), daemon=True).start()

    def _open(self, srv: socket.socket, client: socket.socket) -> None:
        self._flowing.wait()  # frozen: accepted, but the server never sees it
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            if srv is not self._listener:  # cut while this one was being connected
                _reset(client, upstream)
                return
            self._conns += [client, upstream]
        self._relay(client, upstream)

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                ready = sel.select(timeout=1)
                if not self._flowing.is_set():  # frozen: what is sent waits in the buffers
                    self._flowing.wait(1)
                    continue
                for key, _ in ready:
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                    self.relayed += len(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            conns, self._conns = self._conns, []
        _reset(*conns)

    def restore(self) -> None:
        if self._listener is None:
            self._listen()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self.thaw()
        self.cut()


def _reset(*socks: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees a broken connection at once."""
    for s in socks:
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


@contextlib.contextmanager
def relayed(db_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """A relay in front of the PostgreSQL of `db_url`: the URL through it, and the relay."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        proxy.close()
