"""The Elasticsearch sink: bulk-creates documents and reports each one's fate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from connectors.es_documents import bulk_create
from transforms.esdofn import ElasticsearchDoFn
from transforms.metrics import counter, stage_timer
from transforms.model import Article, DeadLetter

__all__ = ["WriteToElasticsearch", "IndexResult", "DEAD_LETTER", "to_index_document"]

DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class IndexResult:
    """One document that is now in the index (`created` now, or `existing` before)."""

    doc_id: str
    feed_url: str | None
    status: str


def to_index_document(article: Article, run_id: str, indexed_at: str) -> dict[str, Any]:
    """The document as stored: the article's fields plus when and by which run."""
    document = article.to_document()
    document["run_id"] = run_id
    document["indexed_at"] = indexed_at
    return document


class _BulkCreate(ElasticsearchDoFn):
    """Writes one batch of documents."""

    def __init__(self, client_factory: Callable[[], Any], alias: str, run_id: str):
        super().__init__(client_factory)
        self._alias = alias
        self._run_id = run_id
        self._indexed = counter("indexed")
        self._existing = counter("already_indexed")
        self._errors = counter("index_errors")

    def process(self, batch: list[Article]) -> Iterator:
        with stage_timer("index"):
            indexed_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace(
                "+00:00", "Z")
            feeds = {a.id: a.feed_url for a in batch}
            docs = [(a.id, to_index_document(a, self._run_id, indexed_at)) for a in batch]
            report = bulk_create(self._client, self._alias, docs)
        self._indexed.inc(len(report.created))
        self._existing.inc(len(report.existing))
        self._errors.inc(len(report.failed))
        for doc_id in report.created:
            yield IndexResult(doc_id, feeds[doc_id], "created")
        for doc_id in report.existing:
            yield IndexResult(doc_id, feeds[doc_id], "existing")
        for doc_id, error in report.failed:
            yield pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
                stage="index", key=doc_id, error=error, feed_url=feeds[doc_id]))


class WriteToElasticsearch(beam.PTransform):
    """Articles -> IndexResult per stored document, plus a `dead_letter` output for refusals."""

    def __init__(self, client_factory: Callable[[], Any], alias: str, run_id: str,
                 batch_size: int = 500):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self._client_factory = client_factory
        self._alias = alias
        self._run_id = run_id
        self._batch_size = batch_size

    def expand(self, articles: beam.PCollection[Article]):
        return (
            articles
            # Fixed-size batches (the last of a bundle smaller): the adaptive default
            # starts at one document and jitters, which costs requests, not throughput.
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size,
                                            max_batch_size=self._batch_size)
            | "BulkCreate" >> beam.ParDo(
                _BulkCreate(self._client_factory, self._alias, self._run_id)
            ).with_outputs(DEAD_LETTER, main="indexed")
        )
