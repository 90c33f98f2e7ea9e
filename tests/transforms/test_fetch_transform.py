"""FetchAndParse against real feeds on a local HTTP server, and the batching of feeds."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from connectors.feeds import FetchSettings
from pipeline.summary import read_counters
from tests.feedfactory import atom, rss
from tests.feedserver import FeedServer, Reply, Request
from transforms.fetch import FetchAndParse, batches
from transforms.model import FeedSpec

SETTINGS = FetchSettings(timeout=5, retries=0, connect_timeout=2, read_timeout=2, backoff_base=0.01)
RSS_TYPE = {"Content-Type": "application/rss+xml"}

WIRE_ITEMS = [
    {"title": "Wagner deploys to Jufra", "link": "http://wire.example/1",
     "published": "2020-05-06T17:05:00Z", "body": "<p>Russian contractors in Libya.</p>"},
    {"title": "Turkish drones over Tripoli", "link": "http://wire.example/2",
     "published": "2020-05-20T11:00:00Z", "body": "<p>Drones and advisers.</p>"},
]
ATOM_ITEMS = [{"title": "Egypt warns on Sirte", "link": "http://atom.example/1",
               "published": "2020-06-09T07:20:00Z", "body": "Cairo and the LNA."}]
CUT_ITEMS = [{"title": "Cut feed, first", "link": "http://cut.example/1", "body": "one"},
             {"title": "Cut feed, second", "link": "http://cut.example/2", "body": "two"}]


def spec(url: str, **changes) -> FeedSpec:
    return FeedSpec(url=url, timeout=5, retries=0, **changes)


def _answers_304_to(etag: str, body: bytes):
    def reply(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(status=304, headers={"ETag": etag})
        return Reply(body=body, headers={**RSS_TYPE, "ETag": etag})
    return reply


# --- batches -------------------------------------------------------------------------------


def test_batches_keep_order_and_put_the_remainder_last() -> None:
    specs = [FeedSpec(url=f"http://f.example/{n}") for n in range(5)]
    assert batches(specs, 2) == [tuple(specs[0:2]), tuple(specs[2:4]), (specs[4],)]
    assert batches(specs, 5) == [tuple(specs)]
    assert batches(specs, 100) == [tuple(specs)]
    assert batches(specs, 1) == [(s,) for s in specs]
    assert batches([], 3) == []


@pytest.mark.parametrize("size", [0, -1])
def test_batches_refuse_a_size_below_one(size: int) -> None:
    with pytest.raises(ValueError, match=f"^batch size must be positive, got {size}$"):
        batches([FeedSpec(url="http://f.example/")], size)


# --- FetchAndParse -------------------------------------------------------------------------


def _mentions(expected: dict[str, str]):
    """A matcher: each dead letter's error (by key) contains the expected text, on one line."""
    def check(letters) -> None:
        errors = {letter.key: letter.error for letter in letters}
        for key, text in expected.items():
            if text not in errors.get(key, "") or "\n" in errors.get(key, ""):
                raise BeamAssertException(f"dead letter for {key}: {errors.get(key)!r} lacks {text!r}")
    return check


def _bodies_dropped(reports) -> None:
    if any(report.body is not None for report in reports):
        raise BeamAssertException("feed reports must not carry the body")


def test_every_feed_gets_one_report_entries_flow_and_failures_are_dead_letters(
        feed_server: FeedServer) -> None:
    wire = feed_server.route("/wire.xml", Reply(body=rss(WIRE_ITEMS), headers=RSS_TYPE))
    atom_feed = feed_server.route("/news.atom", Reply(body=atom(ATOM_ITEMS),
                                                      headers={"Content-Type": "application/atom+xml"}))
    cut = feed_server.route("/cut.xml", Reply(body=rss(CUT_ITEMS)[:-40], headers=RSS_TYPE))
    page = feed_server.route("/page.html", Reply(body=b"<html><body>Not a feed</body></html>",
                                                 headers={"Content-Type": "text/html"}))
    unchanged = feed_server.route("/unchanged.xml", _answers_304_to('"v1"', rss(WIRE_ITEMS)))
    gone = feed_server.url("/gone.xml")  # no route: 404
    specs = [spec(wire, name="Wire"), spec(atom_feed), spec(cut), spec(page),
             spec(unchanged, etag='"v1"'), spec(gone)]

    p = BeamTestPipeline()
    fetched = p | beam.Create(batches(specs, 2)) | FetchAndParse(SETTINGS)
    assert_that(fetched.entries | "EntryKeys" >> beam.Map(lambda e: (e.feed_url, e.title)),
                equal_to([(wire, "Wagner deploys to Jufra"), (wire, "Turkish drones over Tripoli"),
                          (atom_feed, "Egypt warns on Sirte"),
                          (cut, "Cut feed, first"), (cut, "Cut feed, second")]),
                label="Entries")
    assert_that(fetched.feed_reports
                | "ReportKeys" >> beam.Map(lambda r: (r.feed_url, r.status, r.http_status,
                                                      r.entries, r.bozo is not None)),
                equal_to([(wire, "ok", 200, 2, False), (atom_feed, "ok", 200, 1, False),
                          (cut, "ok", 200, 2, True), (page, "failed", 200, 0, False),
                          (unchanged, "not_modified", 304, 0, False),
                          (gone, "failed", 404, 0, False)]),
                label="Reports")
    assert_that(fetched.feed_reports, _bodies_dropped, label="NoBodies")
    assert_that(fetched.dead_letter | "LetterKeys" >> beam.Map(lambda d: (d.stage, d.key, d.feed_url)),
                equal_to([("fetch", gone, gone), ("parse", page, page)]), label="DeadLetters")
    assert_that(fetched.dead_letter,
                _mentions({gone: "HTTP 404 Not Found", page: "malformed feed: NonXMLContentType"}),
                label="DeadLetterErrors")
    result = p.run()
    result.wait_until_finish()

    counters = read_counters(result)
    assert {name: counters.get(name, 0) for name in
            ("feeds_ok", "feeds_not_modified", "feeds_failed", "feeds_bozo", "entries_seen")} == {
        "feeds_ok": 3, "feeds_not_modified": 1, "feeds_failed": 2, "feeds_bozo": 1,
        "entries_seen": 5}
    assert len(feed_server.requests("/wire.xml")) == 1
    assert feed_server.requests("/unchanged.xml")[0].headers["if-none-match"] == '"v1"'


def test_the_entries_carry_the_feed_they_came_from(feed_server: FeedServer) -> None:
    wire = feed_server.route("/wire.xml", Reply(body=rss(WIRE_ITEMS[:1]), headers=RSS_TYPE))
    with BeamTestPipeline() as p:
        fetched = p | beam.Create(batches([spec(wire, name="Wire", language="ar")], 10)) \
            | FetchAndParse(SETTINGS)
        assert_that(fetched.entries | beam.Map(
            lambda e: (e.feed_name, e.feed_title, e.link, e.published, bool(e.fetched_at))),
            equal_to([("Wire", "Test Wire", "http://wire.example/1", "2020-05-06T17:05:00Z", True)]))


def test_an_entry_that_cannot_be_used_is_a_dead_letter(feed_server: FeedServer) -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            b'<item><guid isPermaLink="false">empty-1</guid></item>'
            b"<item><title>Usable</title><link>http://wire.example/u</link></item>"
            b"</channel></rss>")
    url = feed_server.route("/partly.xml", Reply(body=body, headers=RSS_TYPE))
    with BeamTestPipeline() as p:
        fetched = p | beam.Create(batches([spec(url)], 1)) | FetchAndParse(SETTINGS)
        assert_that(fetched.entries | "Titles" >> beam.Map(lambda e: e.title), equal_to(["Usable"]),
                    label="Entries")
        assert_that(fetched.dead_letter | beam.Map(lambda d: (d.stage, d.feed_url)),
                    equal_to([("parse", url)]), label="DeadLetters")
