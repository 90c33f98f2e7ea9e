"""A real HTTP server for tests and benchmarks: programmable routes on 127.0.0.1.

It runs a `ThreadingHTTPServer` (HTTP/1.1) on a free port in a background
thread, so clients under test talk real TCP and real HTTP to it::

    with FeedServer() as server:
        url = server.route("/rss", Reply(body=rss, headers={"Content-Type": "application/rss+xml"}))
        flaky = server.route("/flaky", Reply(status=500), Reply(body=rss))  # 500, then 200 on
        ...
        assert len(server.requests("/flaky")) == 2
        assert server.requests("/rss")[0].headers["user-agent"].startswith("libya-watch")

A route answers its n-th request with its n-th reply; the last reply repeats.
A route may also be a function ``Request -> Reply`` (e.g. to answer 304 only
when the right If-None-Match arrives). Unknown paths get 404. Query strings
are ignored for routing but kept in the log.

`Reply` can delay before answering (``delay``), drip the body in chunks
(``drip`` seconds apart, ``chunk_size`` bytes each), or stream without end
(``endless``: the body, or filler, repeated until the client hangs up; a
safety net stops it at `ENDLESS_CAP` bytes). Dripping and endless bodies
use chunked transfer encoding. Every wait ends at once when the server
stops, so a test never waits for a slow route to finish.

The server records every request (method, path, lower-cased headers,
arrival time) and the peak number of requests handled at once
(`peak_in_flight`), so tests can assert what a client sent and how
concurrent it was. For pytest, use the `feed_server` fixture.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

__all__ = ["ENDLESS_CAP", "FeedServer", "Reply", "Request", "feed_server"]

ENDLESS_CAP = 256 * 1024 * 1024
_FILLER = b"<item><title>Libya</title></item>\n" * 512


@dataclass(frozen=True)
class Reply:
    """One programmed response.

    ``body`` goes on the wire as given (see `gzipped`). Unless ``headers``
    set them, Content-Length is added (or chunked encoding for ``drip`` /
    ``endless``); no Content-Type is added.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float | None = None
    chunk_size: int = 16 * 1024
    endless: bool = False

    @classmethod
    def gzipped(cls, body: bytes, *, headers: Mapping[str, str] | None = None, **kw) -> Reply:
        """A reply whose body is gzip-compressed on the wire (Content-Encoding: gzip)."""
        headers = {**(headers or {}), "Content-Encoding": "gzip"}
        return cls(body=gzip.compress(body), headers=headers, **kw)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": location})


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # names lower-cased
    received_at: float  # time.monotonic()


Route = Callable[[Request], Reply]


class FeedServer:
    """A programmable HTTP server on 127.0.0.1; a context manager (start/close)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._log: list[Request] = []
        self._in_flight = 0
        self.peak_in_flight = 0
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.feed_server = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="feedserver",
            daemon=True,
        )

    # lifecycle ------------------------------------------------------------------
    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # programming ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, *replies: Reply | Route) -> str:
        """Serve `replies` in turn at `path` (the last repeats); returns the full URL.

        A single callable instead of replies decides each response itself.
        """
        if not replies:
            raise ValueError("route() needs at least one Reply or one callable")
        if len(replies) == 1 and callable(replies[0]):
            handler: Route = replies[0]  # type: ignore[assignment]
        else:
            handler = _Sequence(replies)  # type: ignore[arg-type]
        with self._lock:
            self._routes[path] = handler
        return self.url(path)

    def requests(self, path: str | None = None) -> list[Request]:
        """Requests received so far (for `path` only, if given; query ignored)."""
        with self._lock:
            log = list(self._log)
        if path is None:
            return log
        return [r for r in log if urllib.parse.urlsplit(r.path).path == path]

    # used by the handler ----------------------------------------------------------
    def _begin(self, request: Request) -> Route | None:
        with self._lock:
            self._log.append(request)
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return self._routes.get(urllib.parse.urlsplit(request.path).path)

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Sequence:
    """Answers the n-th request with the n-th reply; the last one repeats."""

    def __init__(self, replies: tuple[Reply, ...]) -> None:
        self._replies = replies
        self._count = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            reply = self._replies[min(self._count, len(self._replies) - 1)]
            self._count += 1
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    feed_server: FeedServer

    def handle_error(self, request, client_address) -> None:
        """A client hanging up (as the fetcher does on a cut-off body) is not an error."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "feedserver/1"
    timeout = 10  # an idle keep-alive connection does not pin a thread for ever
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        owner = self.server.feed_server
        request = Request(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            received_at=time.monotonic(),
        )
        route = owner._begin(request)
        try:
            reply = route(request) if route is not None else Reply(404, b"no such route\n")
            self._send(reply, owner.stopping)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away: that is its right
        finally:
            owner._end()

    def _send(self, reply: Reply, stopping: threading.Event) -> None:
        if reply.delay and stopping.wait(reply.delay):
            self.close_connection = True
            return
        streaming = reply.endless or reply.drip is not None
        names = {k.lower() for k in reply.headers}
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        chunked = streaming and "content-length" not in names
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in names:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not streaming:
            self.wfile.write(reply.body)
            return
        for chunk in _chunks(reply):
            if stopping.is_set():
                self.close_connection = True
                return
            self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            self.wfile.flush()
            if reply.drip and stopping.wait(reply.drip):
                self.close_connection = True
                return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # tests read `FeedServer.requests()` instead of stderr


def _chunks(reply: Reply) -> Iterator[bytes]:
    size = max(1, reply.chunk_size)
    if not reply.endless:
        for start in range(0, len(reply.body), size):
            yield reply.body[start : start + size]
        return
    unit = (reply.body or _FILLER)[:size] or _FILLER
    sent = 0
    while sent < ENDLESS_CAP:
        yield unit
        sent += len(unit)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started `FeedServer`, closed after the test."""
    with FeedServer() as server:
        yield server
