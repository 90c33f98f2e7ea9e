"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 that records every POST.

It answers the n-th POST with the n-th status of its script (the last one
repeats), so "fails twice, then accepts" is ``WebhookReceiver(500, 500, 200)``.
Each request is kept with its headers and JSON body, and with the status it
got, so a test can count how many times each alert was *accepted*::

    with WebhookReceiver(500, 500, 200) as receiver:
        ...
        assert receiver.accepted_keys() == {alert.id: 1}
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Post", "WebhookReceiver"]


@dataclass(frozen=True)
class Post:
    """One POST as received, and the status it was answered with."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any
    status: int


class WebhookReceiver:
    """A context manager: started on entry, stopped on exit."""

    def __init__(self, *statuses: int, retry_after: str | None = None) -> None:
        self._script = statuses or (200,)
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self.posts: list[Post] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with receiver._lock:
                    status = receiver._script[min(len(receiver.posts), len(receiver._script) - 1)]
                    receiver.posts.append(Post(self.path, {k.lower(): v for k, v in
                                                           self.headers.items()}, body, status))
                reply = b"ok" if status < 300 else b"no"
                self.send_response(status)
                if status == 429 and receiver._retry_after is not None:
                    self.send_header("Retry-After", receiver._retry_after)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/T000/B000/secret-token"

    def accepted_keys(self) -> Counter[str]:
        """Idempotency key -> how many POSTs carrying it were answered 2xx."""
        with self._lock:
            return Counter(p.headers.get("idempotency-key", "") for p in self.posts
                           if 200 <= p.status < 300)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
