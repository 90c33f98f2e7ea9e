"""Deduplication: the pure choice of a representative, the in-run transform, and the index look-up."""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from elasticsearch import Elasticsearch

from connectors.es_client import EsSettings, make_client
from connectors.es_documents import bulk_create
from connectors.es_index import ensure_index
from pipeline.summary import read_counters
from transforms.dedup import DedupWithinRun, SkipAlreadyIndexed, filter_unseen, pick_representative
from transforms.index import to_index_document
from transforms.model import Article


def article(n: int, *, url: str | None = "", published: str = "2020-05-06T12:00:00Z",
            content_hash: str | None = None, feed_url: str | None = "http://wire.example/rss",
            title: str | None = None, article_id: str | None = None) -> Article:
    """Article number `n`; unless told otherwise its URL, id and text are its own."""
    return Article(
        id=article_id or f"id-{n:03d}",
        url=f"http://wire.example/{n}" if url == "" else url,
        title=title or f"Report {n} on Libya",
        text=f"Text of report {n} about Tripoli.",
        published=published,
        published_source="published",
        language="en",
        language_source="feed",
        outlet="Wire",
        content_hash=content_hash or f"hash-{n:03d}",
        feed_url=feed_url,
        fetched_at="2020-06-01T00:00:00Z",
    )


# --- pick_representative -------------------------------------------------------------------


def test_the_earliest_published_article_is_picked() -> None:
    early = article(1, published="2020-05-01T08:00:00Z")
    late = article(2, published="2020-05-03T08:00:00Z")
    assert pick_representative([late, early]) == early
    assert pick_representative([early, late]) == early


def test_equal_dates_break_on_id_then_feed_then_url() -> None:
    same_day = "2020-05-01T08:00:00Z"
    by_id = [article(1, article_id="b", published=same_day), article(2, article_id="a", published=same_day)]
    assert pick_representative(by_id).id == "a"

    by_feed = [article(1, article_id="x", feed_url="http://z.example/rss", published=same_day),
               article(2, article_id="x", feed_url="http://a.example/rss", published=same_day)]
    assert pick_representative(by_feed).feed_url == "http://a.example/rss"

    by_url = [article(1, article_id="x", url="http://z.example/1", published=same_day),
              article(2, article_id="x", url="http://a.example/1", published=same_day)]
    assert pick_representative(by_url).url == "http://a.example/1"


def test_a_missing_feed_url_sorts_before_any_feed() -> None:
    same_day = "2020-05-01T08:00:00Z"
    from_input = article(1, article_id="x", feed_url=None, published=same_day)
    from_feed = article(2, article_id="x", feed_url="http://a.example/rss", published=same_day)
    assert pick_representative([from_feed, from_input]) is from_input


def test_the_pick_does_not_depend_on_the_order_of_the_group() -> None:
    group = [article(1, published="2020-05-02T00:00:00Z"),
             article(2, published="2020-05-01T00:00:00Z", article_id="id-b"),
             article(3, published="2020-05-01T00:00:00Z", article_id="id-a"),
             article(4, published="2020-05-01T00:00:00Z", article_id="id-a",
                     feed_url="http://0.example/rss")]
    picks = {pick_representative(order) for order in itertools.permutations(group)}
    assert picks == {group[3]}


def test_the_pick_is_deterministic_when_only_the_text_differs() -> None:
    first = article(1, article_id="same", url="http://wire.example/same", content_hash="hash-a",
                    title="Headline, first version")
    edited = replace(first, title="Headline, edited", text="Edited text.", content_hash="hash-b")
    assert pick_representative([first, edited]) == pick_representative([edited, first])


# --- DedupWithinRun ------------------------------------------------------------------------


def _dedup(articles: list[Article], expected: list[Article]) -> dict[str, int]:
    p = BeamTestPipeline()
    kept = p | beam.Create(articles) | DedupWithinRun()
    assert_that(kept, equal_to(expected))
    result = p.run()
    result.wait_until_finish()
    return read_counters(result)


def test_articles_with_the_same_canonical_url_keep_the_earliest() -> None:
    later = article(1, url="http://wire.example/story", published="2020-05-07T00:00:00Z",
                    content_hash="hash-later")
    earliest = article(2, url="http://wire.example/story", published="2020-05-05T00:00:00Z",
                       content_hash="hash-earliest")
    middle = article(3, url="http://wire.example/story", published="2020-05-06T00:00:00Z",
                     content_hash="hash-middle")
    counters = _dedup([later, earliest, middle], [earliest])
    assert counters["duplicates_url"] == 2
    assert counters.get("duplicates_text", 0) == 0


def test_the_same_text_under_different_urls_keeps_the_earliest() -> None:
    copy = article(1, url="http://copy.example/x", published="2020-05-08T00:00:00Z",
                   content_hash="same-text")
    original = article(2, url="http://wire.example/x", published="2020-05-06T00:00:00Z",
                       content_hash="same-text")
    counters = _dedup([copy, original], [original])
    assert counters["duplicates_text"] == 1
    assert counters.get("duplicates_url", 0) == 0


def test_distinct_articles_are_all_kept() -> None:
    articles = [article(n) for n in range(5)]
    counters = _dedup(articles, articles)
    assert counters.get("duplicates_url", 0) == 0 and counters.get("duplicates_text", 0) == 0


def test_articles_without_a_url_are_grouped_by_id() -> None:
    a = article(1, url=None, article_id="input-1", content_hash="h1", published="2020-05-02T00:00:00Z")
    b = article(2, url=None, article_id="input-1", content_hash="h2", published="2020-05-01T00:00:00Z")
    c = article(3, url=None, article_id="input-2", content_hash="h3")
    _dedup([a, b, c], [b, c])


def test_url_and_text_duplicates_in_one_run() -> None:
    """One URL twice, and its text again under another URL: one article survives."""
    first = article(1, url="http://wire.example/a", content_hash="t", published="2020-05-01T00:00:00Z")
    repost = article(2, url="http://wire.example/a", content_hash="t2", published="2020-05-03T00:00:00Z")
    syndicated = article(3, url="http://other.example/a", content_hash="t",
                         published="2020-05-02T00:00:00Z")
    unrelated = article(4)
    counters = _dedup([syndicated, repost, unrelated, first], [first, unrelated])
    assert counters["duplicates_url"] == 1 and counters["duplicates_text"] == 1


# --- filter_unseen -------------------------------------------------------------------------


def test_filter_unseen_drops_known_ids_and_known_texts_and_counts_them() -> None:
    batch = [article(1), article(2), article(3), article(4)]
    fresh, seen = filter_unseen(batch, seen_ids={"id-001"}, seen_hashes={"hash-003"})
    assert fresh == [batch[1], batch[3]]
    assert seen == 2


def test_filter_unseen_counts_an_article_known_both_ways_once() -> None:
    batch = [article(1), article(2)]
    fresh, seen = filter_unseen(batch, seen_ids={"id-001"}, seen_hashes={"hash-001"})
    assert (fresh, seen) == ([batch[1]], 1)


def test_filter_unseen_with_nothing_seen_keeps_everything_in_order() -> None:
    batch = [article(3), article(1), article(2)]
    assert filter_unseen(batch, set(), set()) == (batch, 0)
    assert filter_unseen([], {"id-001"}, {"hash-001"}) == ([], 0)


# --- SkipAlreadyIndexed (real Elasticsearch) -----------------------------------------------


def test_skip_already_indexed_rejects_a_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        SkipAlreadyIndexed(lambda: None, "lw-test", batch_size=0)


@pytest.mark.es
def test_skip_already_indexed_drops_known_ids_and_known_texts(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    stored = article(1, content_hash="stored-text")
    document = to_index_document(stored, "run-0", "2020-06-01T00:00:00Z")
    report = bulk_create(es_client, es_alias, [(stored.id, document)])
    assert report.created == [stored.id]
    es_client.indices.refresh(index=es_alias)

    same_id = article(1, content_hash="new-text")           # the stored URL, edited
    same_text = article(2, content_hash="stored-text")      # the stored text, elsewhere
    fresh = [article(3), article(4)]
    p = BeamTestPipeline()
    kept = (p
            | beam.Create([same_id, same_text, *fresh])
            | SkipAlreadyIndexed(functools.partial(make_client, EsSettings(url=es_server.url)),
                                 es_alias, batch_size=2))
    assert_that(kept, equal_to(fresh))
    result = p.run()
    result.wait_until_finish()
    assert read_counters(result)["already_indexed"] == 2


@pytest.mark.es
def test_skip_already_indexed_passes_everything_before_the_index_exists(
        es_server, es_alias: str) -> None:
    articles = [article(1), article(2)]
    with BeamTestPipeline() as p:
        kept = (p
                | beam.Create(articles)
                | SkipAlreadyIndexed(functools.partial(make_client, EsSettings(url=es_server.url)),
                                     es_alias))
        assert_that(kept, equal_to(articles))
