"""Feed state after a run: validators advance only for feeds whose documents were all stored."""

from __future__ import annotations

import functools

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from elasticsearch import Elasticsearch

from connectors.es_client import EsSettings, make_client
from connectors.state import FeedStateStore
from pipeline.summary import read_counters
from transforms.feedstate import RecordFeedState, may_advance
from transforms.model import DeadLetter, FetchOutcome

CLEAN = "http://wire.example/clean.xml"
REFUSED = "http://wire.example/refused.xml"
BROKEN = "http://wire.example/broken.xml"
UNCHANGED = "http://wire.example/unchanged.xml"


def ok(url: str, etag: str) -> FetchOutcome:
    return FetchOutcome(feed_url=url, status="ok", http_status=200, etag=etag,
                        last_modified="Sat, 06 Jun 2020 10:00:00 GMT",
                        fetched_at="2020-06-06T10:00:00Z", entries=3)


def refusal(url: str | None, key: str = "doc-1") -> DeadLetter:
    return DeadLetter(stage="index", key=key, error="400 document_parsing_exception: published",
                      feed_url=url)


# --- may_advance ---------------------------------------------------------------------------


def test_a_fetched_feed_with_nothing_refused_advances() -> None:
    assert may_advance(ok(CLEAN, '"v2"'), []) is True


def test_one_refused_document_holds_the_feed_back() -> None:
    assert may_advance(ok(REFUSED, '"v2"'), [refusal(REFUSED)]) is False
    assert may_advance(ok(REFUSED, '"v2"'), iter([refusal(REFUSED), refusal(REFUSED, "doc-2")])) is False


def test_a_failure_never_advances_and_a_304_may() -> None:
    unchanged = FetchOutcome(feed_url=UNCHANGED, status="not_modified", http_status=304)
    failed = FetchOutcome(feed_url=BROKEN, status="failed", http_status=500, error="HTTP 500")
    assert may_advance(unchanged, []) is True
    assert may_advance(failed, []) is False


# --- RecordFeedState (real Elasticsearch) --------------------------------------------------


@pytest.mark.es
def test_validators_advance_only_for_feeds_without_refused_documents(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    store.record([ok(CLEAN, '"clean-1"'), ok(REFUSED, '"refused-1"'), ok(BROKEN, '"broken-1"'),
                  ok(UNCHANGED, '"unchanged-1"')], "run-0",
                 advance_validators={CLEAN, REFUSED, BROKEN, UNCHANGED})

    reports = [ok(CLEAN, '"clean-2"'), ok(REFUSED, '"refused-2"'),
               FetchOutcome(feed_url=BROKEN, status="failed", http_status=503,
                            error=f"{BROKEN}: HTTP 503 Service Unavailable",
                            fetched_at="2020-06-06T10:00:00Z"),
               FetchOutcome(feed_url=UNCHANGED, status="not_modified", http_status=304,
                            etag='"unchanged-1"', fetched_at="2020-06-06T10:00:00Z")]
    refused = [refusal(REFUSED, "doc-1"), refusal(REFUSED, "doc-2"),
               refusal(None, "an-input-line")]  # no feed: holds nothing back
    p = BeamTestPipeline()
    recorded = ((p | "Reports" >> beam.Create(reports), p | "Refused" >> beam.Create(refused))
                | RecordFeedState(functools.partial(make_client, EsSettings(url=es_server.url)),
                                  es_alias, "run-1"))
    assert_that(recorded, equal_to([CLEAN, REFUSED, BROKEN, UNCHANGED]))
    result = p.run()
    result.wait_until_finish()
    assert read_counters(result)["feeds_held_back"] == 1

    after = store.load([CLEAN, REFUSED, BROKEN, UNCHANGED])
    assert after[CLEAN].etag == '"clean-2"'
    assert after[REFUSED].etag == '"refused-1"', "a refused document must hold the validator back"
    assert after[BROKEN].etag == '"broken-1"'
    assert after[UNCHANGED].etag == '"unchanged-1"'
    assert {url: state.last_run_id for url, state in after.items()} == dict.fromkeys(after, "run-1")
    assert (after[REFUSED].last_status, after[REFUSED].consecutive_failures) == ("ok", 0)
    assert (after[BROKEN].last_status, after[BROKEN].last_http_status) == ("failed", 503)
    assert after[BROKEN].consecutive_failures == 1
    assert after[UNCHANGED].last_status == "not_modified"


@pytest.mark.es
def test_a_refusal_for_a_feed_not_in_this_run_records_nothing(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    p = BeamTestPipeline()
    recorded = ((p | "Reports" >> beam.Create([ok(CLEAN, '"clean-1"')]),
                 p | "Refused" >> beam.Create([refusal(REFUSED)]))
                | RecordFeedState(functools.partial(make_client, EsSettings(url=es_server.url)),
                                  es_alias, "run-1"))
    assert_that(recorded, equal_to([CLEAN]))
    p.run().wait_until_finish()
    after = FeedStateStore(es_client, es_alias).load([CLEAN, REFUSED])
    assert set(after) == {CLEAN}
    assert after[CLEAN].etag == '"clean-1"'
