"""Exact deduplication: one document per canonical URL and per text, in a run and across runs.

Within a run, articles are grouped first by id (derived from the canonical
URL) and then by content hash; each group keeps one representative chosen
deterministically, so every runner keeps the same one. Across runs, a batch
of candidates is looked up in Elasticsearch by id and by content hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam

from connectors.es_documents import existing_ids_and_hashes
from transforms.esdofn import ElasticsearchDoFn
from transforms.metrics import counter, stage_timer
from transforms.model import Article

__all__ = ["DedupWithinRun", "SkipAlreadyIndexed", "pick_representative", "filter_unseen"]


def pick_representative(articles: Iterable[Article]) -> Article:
    """The earliest published article wins; ties break on id, feed, URL, text and title.

    The key covers every field that can differ between two copies, so the
    choice never depends on the order a runner delivers them in.
    """
    return min(articles, key=lambda a: (a.published, a.id, a.feed_url or "", a.url or "",
                                        a.content_hash, a.title))


class _KeepOne(beam.DoFn):
    def __init__(self, duplicates_counter: str):
        self._duplicates = counter(duplicates_counter)

    def process(self, keyed: tuple[str, Iterable[Article]]) -> Iterator[Article]:
        _, group = keyed
        with stage_timer("dedup"):
            group = list(group)
            kept = pick_representative(group)
        self._duplicates.inc(len(group) - 1)
        yield kept


class DedupWithinRun(beam.PTransform):
    """Articles -> articles unique by canonical URL (else id) and by content hash."""

    def expand(self, articles: beam.PCollection[Article]) -> beam.PCollection[Article]:
        return (
            articles
            | "KeyByUrl" >> beam.Map(lambda a: (a.url or a.id, a))
            | "GroupByUrl" >> beam.GroupByKey()
            | "OnePerUrl" >> beam.ParDo(_KeepOne("duplicates_url"))
            | "KeyByText" >> beam.Map(lambda a: (a.content_hash, a))
            | "GroupByText" >> beam.GroupByKey()
            | "OnePerText" >> beam.ParDo(_KeepOne("duplicates_text"))
        )


def filter_unseen(batch: list[Article], seen_ids: set[str],
                  seen_hashes: set[str]) -> tuple[list[Article], int]:
    """Splits a batch into articles not yet indexed and a count of the rest."""
    fresh = [a for a in batch if a.id not in seen_ids and a.content_hash not in seen_hashes]
    return fresh, len(batch) - len(fresh)


class _SkipIndexed(ElasticsearchDoFn):
    """Looks a batch up in Elasticsearch."""

    def __init__(self, client_factory: Callable[[], Any], alias: str):
        super().__init__(client_factory)
        self._alias = alias
        self._seen = counter("already_indexed")

    def process(self, batch: list[Article]) -> Iterator[Article]:
        with stage_timer("dedup"):
            seen_ids, seen_hashes = existing_ids_and_hashes(
                self._client, self._alias, [a.id for a in batch],
                [a.content_hash for a in batch])
            fresh, seen = filter_unseen(batch, seen_ids, seen_hashes)
        self._seen.inc(seen)
        yield from fresh


class SkipAlreadyIndexed(beam.PTransform):
    """Drops (and counts) articles whose id or text is already in the index."""

    def __init__(self, client_factory: Callable[[], Any], alias: str, batch_size: int = 500):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self._client_factory = client_factory
        self._alias = alias
        self._batch_size = batch_size

    def expand(self, articles: beam.PCollection[Article]) -> beam.PCollection[Article]:
        return (
            articles
            # Fixed-size batches, as in the sink: one look-up per `batch_size` articles.
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_size,
                                            max_batch_size=self._batch_size)
            | "Lookup" >> beam.ParDo(_SkipIndexed(self._client_factory, self._alias))
        )
