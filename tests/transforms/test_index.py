"""The Elasticsearch sink: the stored document, and created / existing / refused against the real index."""

from __future__ import annotations

import functools
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to
from elasticsearch import Elasticsearch

from connectors.es_client import EsSettings, make_client
from connectors.es_index import ensure_index
from pipeline.summary import read_counters
from transforms.index import IndexResult, WriteToElasticsearch, to_index_document
from transforms.model import Article, DeadLetter, Relevance

FEED = "http://wire.example/rss"


def article(n: int, **changes) -> Article:
    fields = dict(
        id=f"doc-{n:03d}",
        url=f"http://wire.example/{n}",
        title=f"Report {n}: Wagner in Libya",
        text=f"Text of report {n} about foreign forces near Sirte.",
        published="2020-05-06T17:05:00Z",
        published_source="published",
        language="en",
        language_source="feed",
        outlet="Wire",
        content_hash=f"hash-{n:03d}",
        feed_url=FEED,
        fetched_at="2020-06-01T00:00:00Z",
        relevance=Relevance(score=3.5, kept=True, matched=("libya", "wagner")),
    )
    fields.update(changes)
    return Article(**fields)


# --- to_index_document ---------------------------------------------------------------------


def test_the_document_is_the_article_plus_run_and_time() -> None:
    a = article(1, extra={"actors": ["Wagner"]})
    doc = to_index_document(a, "run-7", "2020-06-01T10:00:00Z")
    assert doc == {
        "id": "doc-001",
        "url": "http://wire.example/1",
        "title": "Report 1: Wagner in Libya",
        "text": "Text of report 1 about foreign forces near Sirte.",
        "published": "2020-05-06T17:05:00Z",
        "published_source": "published",
        "language": "en",
        "language_source": "feed",
        "outlet": "Wire",
        "content_hash": "hash-001",
        "feed_url": FEED,
        "fetched_at": "2020-06-01T00:00:00Z",
        "relevance": {"score": 3.5, "kept": True, "matched": ["libya", "wagner"]},
        "actors": ["Wagner"],
        "run_id": "run-7",
        "indexed_at": "2020-06-01T10:00:00Z",
    }
    json.dumps(doc)  # what the client will send must be plain JSON


def test_the_document_leaves_the_article_untouched() -> None:
    a = article(2)
    before = a.to_document()
    to_index_document(a, "run-1", "2020-06-01T10:00:00Z")["title"] = "changed"
    assert a.to_document() == before
    assert "run_id" not in a.to_document()


def test_an_article_without_relevance_stores_null() -> None:
    doc = to_index_document(article(3, relevance=None), "run-1", "2020-06-01T10:00:00Z")
    assert doc["relevance"] is None


def test_the_sink_rejects_a_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        WriteToElasticsearch(lambda: None, "lw-test", "run-1", batch_size=0)


# --- WriteToElasticsearch (real Elasticsearch) ---------------------------------------------


def _write(es_url: str, alias: str, run_id: str, articles: list[Article],
           expected: list[IndexResult], expected_letters, letter_check=None) -> dict[str, int]:
    p = BeamTestPipeline()
    written = (p
               | beam.Create(articles)
               | WriteToElasticsearch(functools.partial(make_client, EsSettings(url=es_url)),
                                      alias, run_id, batch_size=2))
    assert_that(written.indexed, equal_to(expected), label="Indexed")
    assert_that(written.dead_letter | beam.Map(lambda d: (d.stage, d.key, d.feed_url)),
                equal_to(expected_letters), label="DeadLetterKeys")
    if letter_check is not None:
        assert_that(written.dead_letter, letter_check, label="DeadLetterErrors")
    result = p.run()
    result.wait_until_finish()
    return read_counters(result)


@pytest.mark.es
def test_a_second_write_reports_existing_documents_and_keeps_the_first(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    a, b, c = article(1), article(2), article(3)

    first = _write(es_server.url, es_alias, "run-1", [a, b],
                   [IndexResult(a.id, FEED, "created"), IndexResult(b.id, FEED, "created")], [])
    assert first["indexed"] == 2

    second = _write(es_server.url, es_alias, "run-2", [a, c],
                    [IndexResult(a.id, FEED, "existing"), IndexResult(c.id, FEED, "created")], [])
    assert (second["indexed"], second["already_indexed"]) == (1, 1)

    stored = es_client.get(index=es_alias, id=a.id)["_source"]
    assert stored["run_id"] == "run-1", "create must never overwrite a stored document"
    assert stored["content_hash"] == a.content_hash and stored["indexed_at"].endswith("Z")
    assert es_client.get(index=es_alias, id=c.id)["_source"]["run_id"] == "run-2"


def _refused_for_its_date(letters: list[DeadLetter]) -> None:
    if len(letters) != 1:
        raise BeamAssertException(f"expected one dead letter, got {letters}")
    error = letters[0].error
    if not (error.startswith("400 ") and "published" in error and "\n" not in error):
        raise BeamAssertException(f"the error should say status and field in one line: {error!r}")


@pytest.mark.es
def test_a_document_the_index_refuses_goes_to_the_dead_letters(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    good = article(1)
    bad = article(2, published="not a date", feed_url="http://other.example/atom")
    counters = _write(es_server.url, es_alias, "run-1", [good, bad],
                      [IndexResult(good.id, FEED, "created")],
                      [("index", bad.id, "http://other.example/atom")],
                      letter_check=_refused_for_its_date)
    assert counters["index_errors"] == 1 and counters["indexed"] == 1
    assert es_client.exists(index=es_alias, id=good.id)
    assert not es_client.exists(index=es_alias, id=bad.id)
