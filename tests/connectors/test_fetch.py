"""fetch_all against a real HTTP server on 127.0.0.1 (and real files for file://)."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import logging
import os
import re
import socket
import zlib
from pathlib import Path

import pytest

from connectors.feeds import FetchSettings
from connectors.fetch import fetch_all
from tests.feedserver import FeedServer, Reply, Request
from transforms.model import FeedSpec, FetchOutcome

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
RSS = (DATA / "rss20.xml").read_bytes()
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}

# Short waits everywhere: the whole module runs in seconds.
SETTINGS = FetchSettings(
    timeout=2.0, connect_timeout=1.0, read_timeout=1.0, backoff_base=0.01, retry_after_max=2.0
)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def spec(url: str, **overrides: object) -> FeedSpec:
    values: dict = {"timeout": 2.0, "retries": 2, "max_bytes": 1024 * 1024}
    values.update(overrides)
    return FeedSpec(url=url, **values)


def fetch_one(feed: FeedSpec, settings: FetchSettings = SETTINGS) -> FetchOutcome:
    [outcome] = fetch_all([feed], settings)
    return outcome


def test_200_gives_body_validators_and_metadata(feed_server: FeedServer) -> None:
    url = feed_server.route(
        "/rss",
        Reply(
            body=RSS,
            headers={**RSS_TYPE, "ETag": '"v1"', "Last-Modified": "Tue, 04 Mar 2025 16:05:00 GMT"},
        ),
    )

    outcome = fetch_one(spec(url))

    assert outcome.status == "ok"
    assert outcome.http_status == 200
    assert outcome.body == RSS
    assert outcome.content_type == "application/rss+xml; charset=utf-8"
    assert outcome.final_url == url
    assert outcome.etag == '"v1"'
    assert outcome.last_modified == "Tue, 04 Mar 2025 16:05:00 GMT"
    assert outcome.attempts == 1
    assert outcome.error is None
    assert ISO_Z.match(outcome.fetched_at)
    assert outcome.elapsed_s > 0
    [request] = feed_server.requests("/rss")
    assert request.headers["user-agent"] == SETTINGS.user_agent
    assert request.headers["accept-encoding"] == "gzip, deflate"  # only what we can decode
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


def test_304_sends_validators_and_keeps_them(feed_server: FeedServer) -> None:
    url = feed_server.route("/rss", Reply(status=304))
    feed = spec(url, etag='"v1"', last_modified="Tue, 04 Mar 2025 16:05:00 GMT")

    outcome = fetch_one(feed)

    assert outcome.status == "not_modified"
    assert outcome.http_status == 304
    assert outcome.body is None
    assert outcome.etag == '"v1"'
    assert outcome.last_modified == "Tue, 04 Mar 2025 16:05:00 GMT"
    [request] = feed_server.requests("/rss")
    assert request.headers["if-none-match"] == '"v1"'
    assert request.headers["if-modified-since"] == "Tue, 04 Mar 2025 16:05:00 GMT"


def test_conditional_get_round_trip(feed_server: FeedServer) -> None:
    """The validators of one run, fed into the next, make the server answer 304."""

    def conditional(request: Request) -> Reply:
        if request.headers.get("if-none-match") == '"v7"':
            return Reply(status=304, headers={"ETag": '"v7"'})
        return Reply(body=RSS, headers={**RSS_TYPE, "ETag": '"v7"'})

    url = feed_server.route("/rss", conditional)
    first = fetch_one(spec(url))
    second = fetch_one(spec(url, etag=first.etag, last_modified=first.last_modified))

    assert (first.status, first.etag) == ("ok", '"v7"')
    assert (second.status, second.etag) == ("not_modified", '"v7"')


def test_404_fails_at_once_without_retry(feed_server: FeedServer) -> None:
    url = feed_server.route("/gone", Reply(status=404, body=b"not here"))

    outcome = fetch_one(spec(url, retries=3))

    assert outcome.status == "failed"
    assert outcome.http_status == 404
    assert outcome.attempts == 1
    assert outcome.error == f"{url}: HTTP 404 Not Found"
    assert len(feed_server.requests("/gone")) == 1


def test_403_is_not_retried_either(feed_server: FeedServer) -> None:
    url = feed_server.route("/forbidden", Reply(status=403))

    outcome = fetch_one(spec(url, retries=3))

    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 403, 1)
    assert len(feed_server.requests("/forbidden")) == 1


def test_500_then_200_is_retried(feed_server: FeedServer) -> None:
    url = feed_server.route("/flaky", Reply(status=500), Reply(body=RSS, headers=RSS_TYPE))

    outcome = fetch_one(spec(url, retries=2))

    assert outcome.status == "ok"
    assert outcome.body == RSS
    assert outcome.attempts == 2
    assert len(feed_server.requests("/flaky")) == 2


def test_persistent_503_stops_after_the_allowed_retries(feed_server: FeedServer) -> None:
    url = feed_server.route("/down", Reply(status=503))

    outcome = fetch_one(spec(url, retries=2))

    assert outcome.status == "failed"
    assert outcome.http_status == 503
    assert outcome.attempts == 3
    assert "HTTP 503" in outcome.error
    assert len(feed_server.requests("/down")) == 3


def test_retries_zero_means_one_attempt(feed_server: FeedServer) -> None:
    url = feed_server.route("/down", Reply(status=502))

    outcome = fetch_one(spec(url, retries=0))

    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert len(feed_server.requests("/down")) == 1


def test_429_waits_for_retry_after(feed_server: FeedServer) -> None:
    url = feed_server.route(
        "/busy", Reply(status=429, headers={"Retry-After": "1"}), Reply(body=RSS, headers=RSS_TYPE)
    )

    outcome = fetch_one(spec(url, retries=1))

    assert (outcome.status, outcome.attempts) == ("ok", 2)
    first, second = feed_server.requests("/busy")
    # The backoff alone would be ~0.01 s; only Retry-After explains a 1 s gap.
    assert second.received_at - first.received_at >= 0.9


def test_retry_after_is_capped(feed_server: FeedServer) -> None:
    url = feed_server.route(
        "/busy",
        Reply(status=503, headers={"Retry-After": "3600"}),
        Reply(body=RSS, headers=RSS_TYPE),
    )
    settings = FetchSettings(backoff_base=0.01, retry_after_max=0.2)

    outcome = fetch_one(spec(url, retries=1), settings)

    assert (outcome.status, outcome.attempts) == ("ok", 2)
    first, second = feed_server.requests("/busy")
    assert 0.15 <= second.received_at - first.received_at < 30


def test_slow_server_times_out_at_the_deadline(feed_server: FeedServer) -> None:
    url = feed_server.route("/slow", Reply(body=RSS, delay=10))

    outcome = fetch_one(spec(url, timeout=0.5, retries=0))

    assert outcome.status == "failed"
    assert outcome.error.startswith(f"{url}: timed out")
    assert outcome.elapsed_s < 5  # we did not wait for the server's 10 s


def test_slow_drip_body_hits_the_total_deadline(feed_server: FeedServer) -> None:
    # Each chunk arrives well within the read timeout; only a total deadline stops this.
    url = feed_server.route("/drip", Reply(body=RSS, headers=RSS_TYPE, drip=0.1, chunk_size=16))
    settings = FetchSettings(read_timeout=1.0, backoff_base=0.01)

    outcome = fetch_one(spec(url, timeout=0.6, retries=0), settings)

    assert outcome.status == "failed"
    assert "timed out" in outcome.error
    assert "0.6 s" in outcome.error
    assert outcome.http_status == 200
    assert outcome.elapsed_s < 5  # the whole drip would take ~14 s


def test_timeouts_are_retried(feed_server: FeedServer) -> None:
    url = feed_server.route("/slow-then-fast", Reply(delay=10), Reply(body=RSS, headers=RSS_TYPE))

    outcome = fetch_one(spec(url, timeout=0.5, retries=1))

    assert (outcome.status, outcome.attempts) == ("ok", 2)


def test_oversized_body_is_cut_off(feed_server: FeedServer) -> None:
    url = feed_server.route("/big", Reply(body=b"x" * 5000))

    outcome = fetch_one(spec(url, max_bytes=1000))

    assert outcome.status == "failed"
    assert outcome.error == f"{url}: body exceeds 1000 bytes"
    assert outcome.http_status == 200
    assert outcome.attempts == 1  # too large is not worth retrying


def test_body_of_exactly_max_bytes_is_accepted(feed_server: FeedServer) -> None:
    url = feed_server.route("/exact", Reply(body=b"x" * 1000))

    outcome = fetch_one(spec(url, max_bytes=1000))

    assert outcome.status == "ok"
    assert len(outcome.body) == 1000


def test_endless_body_is_cut_off(feed_server: FeedServer) -> None:
    url = feed_server.route("/endless", Reply(endless=True, headers=RSS_TYPE))

    outcome = fetch_one(spec(url, max_bytes=256 * 1024, retries=0))

    assert outcome.status == "failed"
    assert "body exceeds 262144 bytes" in outcome.error


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    url = feed_server.route("/gz", Reply.gzipped(RSS, headers=RSS_TYPE))

    outcome = fetch_one(spec(url))

    assert outcome.status == "ok"
    assert outcome.body == RSS
    [request] = feed_server.requests("/gz")
    assert "gzip" in request.headers["accept-encoding"]


def test_deflate_body_is_decoded_zlib_or_raw(feed_server: FeedServer) -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = raw.compress(RSS) + raw.flush()
    deflate = {"Content-Encoding": "deflate"}
    zlib_url = feed_server.route("/z", Reply(body=zlib.compress(RSS), headers=deflate))
    raw_url = feed_server.route("/raw", Reply(body=raw_deflate, headers=deflate))

    outcomes = fetch_all([spec(zlib_url), spec(raw_url)], SETTINGS)

    assert [(o.status, o.body) for o in outcomes] == [("ok", RSS), ("ok", RSS)]


def test_gzip_bomb_is_cut_off_by_decoded_size(feed_server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))  # about 20 KB on the wire
    url = feed_server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))

    outcome = fetch_one(spec(url, max_bytes=100_000))

    assert len(bomb) < 100_000
    assert outcome.status == "failed"
    assert "body exceeds 100000 bytes" in outcome.error


def test_corrupt_gzip_fails_with_a_decoding_error(feed_server: FeedServer) -> None:
    url = feed_server.route(
        "/bad-gz", Reply(body=b"this is not gzip", headers={"Content-Encoding": "gzip"})
    )

    outcome = fetch_one(spec(url))

    assert outcome.status == "failed"
    assert "corrupt compressed body" in outcome.error
    assert outcome.attempts == 1


def test_redirect_is_followed_and_final_url_recorded(feed_server: FeedServer) -> None:
    target = feed_server.route("/new-home", Reply(body=RSS, headers=RSS_TYPE))
    url = feed_server.route("/old-home", Reply.redirect("/new-home", status=301))

    outcome = fetch_one(spec(url))

    assert outcome.status == "ok"
    assert outcome.feed_url == url
    assert outcome.final_url == target
    assert outcome.body == RSS


def test_redirect_loop_fails(feed_server: FeedServer) -> None:
    url = feed_server.route("/a", Reply.redirect("/b"))
    feed_server.route("/b", Reply.redirect("/a"))

    outcome = fetch_one(spec(url, retries=2))

    assert outcome.status == "failed"
    assert "redirect" in outcome.error
    assert outcome.attempts == 1
    # The first request plus at most 5 redirects.
    assert len(feed_server.requests()) == 6


def test_redirect_to_another_scheme_fails_at_once(feed_server: FeedServer) -> None:
    url = feed_server.route("/moved", Reply.redirect("ftp://files.example.org/feed.xml"))

    outcome = fetch_one(spec(url, retries=2))

    assert outcome.status == "failed"
    assert outcome.error.startswith(f"{url}: unsupported URL")
    assert outcome.attempts == 1


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rss"

    outcome = fetch_one(spec(url, retries=2))

    assert outcome.status == "failed"
    assert outcome.error.startswith(f"{url}: connection failed")
    assert outcome.attempts == 3
    assert outcome.http_status is None


def test_failure_keeps_the_old_validators(feed_server: FeedServer) -> None:
    url = feed_server.route("/down", Reply(status=500))

    old = {"etag": '"v3"', "last_modified": "Mon, 03 Mar 2025 10:00:00 GMT"}

    outcome = fetch_one(spec(url, retries=0, **old))

    assert outcome.status == "failed"
    assert (outcome.etag, outcome.last_modified) == (old["etag"], old["last_modified"])


def test_many_feeds_at_once_respect_the_per_host_cap(feed_server: FeedServer) -> None:
    bodies = {f"/feed/{i}": RSS.replace(b"Tripoli Wire", f"Wire {i}".encode()) for i in range(30)}
    urls = [
        feed_server.route(path, Reply(body=body, headers=RSS_TYPE, delay=0.05))
        for path, body in bodies.items()
    ]
    settings = FetchSettings(timeout=5.0, concurrency=16, per_host=2, backoff_base=0.01)

    outcomes = fetch_all([spec(u, timeout=5.0) for u in urls], settings)

    assert [o.status for o in outcomes] == ["ok"] * 30
    assert [o.feed_url for o in outcomes] == urls  # in the order given
    assert [o.body for o in outcomes] == list(bodies.values())
    assert feed_server.peak_in_flight <= 2


def test_per_host_cap_is_what_limits_concurrency(feed_server: FeedServer) -> None:
    """The same run with a higher cap does overlap more: the cap above is real."""
    urls = [feed_server.route(f"/feed/{i}", Reply(body=RSS, delay=0.2)) for i in range(12)]
    settings = FetchSettings(timeout=5.0, concurrency=16, per_host=6, backoff_base=0.01)

    outcomes = fetch_all([spec(u, timeout=5.0) for u in urls], settings)

    assert [o.status for o in outcomes] == ["ok"] * 12
    assert 2 < feed_server.peak_in_flight <= 6


def test_fetch_all_can_run_repeatedly_in_one_process(feed_server: FeedServer) -> None:
    url = feed_server.route("/rss", Reply(body=RSS, headers=RSS_TYPE))

    runs = [fetch_all([spec(url)], SETTINGS) for _ in range(3)]

    assert [run[0].status for run in runs] == ["ok", "ok", "ok"]
    assert len(feed_server.requests("/rss")) == 3


def test_fetch_all_works_inside_a_running_event_loop(feed_server: FeedServer) -> None:
    url = feed_server.route("/rss", Reply(body=RSS, headers=RSS_TYPE))

    async def caller() -> list[FetchOutcome]:
        return fetch_all([spec(url)], SETTINGS)

    [outcome] = asyncio.run(caller())

    assert outcome.status == "ok"


def test_a_broken_spec_does_not_sink_the_batch(
    feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.route("/rss", Reply(body=RSS, headers=RSS_TYPE))
    broken = FeedSpec(url=feed_server.url("/other"), timeout="soon")  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="connectors.fetch"):
        good, bad = fetch_all([spec(url), broken], SETTINGS)

    assert good.status == "ok"
    assert bad.status == "failed"
    assert bad.error.startswith(f"{broken.url}: internal error: TypeError")
    assert "\n" not in bad.error
    assert [r.levelno for r in caplog.records] == [logging.ERROR]  # logged with its traceback
    assert caplog.records[0].exc_info is not None


def test_fetch_all_of_nothing_is_empty() -> None:
    assert fetch_all([], SETTINGS) == []


# --- file:// ---------------------------------------------------------------------------


def test_file_url_is_read_and_then_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    url = path.as_uri()

    first = fetch_one(spec(url))
    again = fetch_one(spec(url, etag=first.etag, last_modified=first.last_modified))
    by_date_only = fetch_one(spec(url, last_modified=first.last_modified))

    assert first.status == "ok"
    assert first.body == RSS
    assert first.final_url == url
    mtime = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
    assert first.last_modified == mtime
    assert again.status == "not_modified"
    assert again.body is None
    assert (again.etag, again.last_modified) == (first.etag, first.last_modified)
    assert by_date_only.status == "not_modified"


def test_file_url_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    first = fetch_one(spec(path.as_uri()))
    path.write_bytes(RSS + b"\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    second = fetch_one(spec(path.as_uri(), etag=first.etag, last_modified=first.last_modified))

    assert second.status == "ok"
    assert second.body == RSS + b"\n"
    assert second.last_modified != first.last_modified


def test_file_url_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2000)

    outcome = fetch_one(spec(path.as_uri(), max_bytes=1000))

    assert outcome.status == "failed"
    assert outcome.error == f"{path.as_uri()}: body exceeds 1000 bytes"


def test_file_url_missing(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.xml").as_uri()

    outcome = fetch_one(spec(url, retries=2))

    assert outcome.status == "failed"
    assert outcome.error == f"{url}: cannot read file: No such file or directory"
    assert outcome.attempts == 1


def test_file_url_and_http_together(tmp_path: Path, feed_server: FeedServer) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    http_url = feed_server.route("/rss", Reply(body=RSS, headers=RSS_TYPE))
    missing = feed_server.route("/missing", Reply(status=404))

    outcomes = fetch_all([spec(path.as_uri()), spec(http_url), spec(missing)], SETTINGS)

    assert [o.status for o in outcomes] == ["ok", "ok", "failed"]


def test_every_failure_is_one_line(feed_server: FeedServer) -> None:
    urls = [
        feed_server.route("/404", Reply(status=404)),
        feed_server.route("/slow", Reply(delay=10)),
        feed_server.route("/big", Reply(body=b"x" * 5000)),
        feed_server.route("/loop", Reply.redirect("/loop")),
    ]

    outcomes = fetch_all([spec(u, timeout=0.5, retries=0, max_bytes=1000) for u in urls], SETTINGS)

    for url, outcome in zip(urls, outcomes):
        assert outcome.status == "failed"
        assert "\n" not in outcome.error
        assert outcome.error.startswith(f"{url}: ")
