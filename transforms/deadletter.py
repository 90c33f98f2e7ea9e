"""Where rejected elements end up: an Elasticsearch index, so each one can be found again."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import apache_beam as beam

from connectors.errors import IndexingError
from connectors.es_documents import bulk_create
from connectors.es_index import ensure_aux_index, mappings_for_deadletter
from transforms.esdofn import ElasticsearchDoFn
from transforms.metrics import counter
from transforms.model import DeadLetter

__all__ = ["WriteDeadLetters", "dead_letter_document"]


def dead_letter_document(letter: DeadLetter, run_id: str,
                         failed_at: str | None = None) -> tuple[str, dict[str, Any]]:
    """The id (stable within a run, distinct for distinct letters) and body of one dead letter."""
    identity = "\x1f".join((run_id, letter.stage, letter.key, letter.error, letter.feed_url or ""))
    doc_id = hashlib.sha1(identity.encode("utf-8", "replace")).hexdigest()
    body = {**asdict(letter), "run_id": run_id}
    if failed_at:
        body["failed_at"] = failed_at
    return doc_id, body


class _Write(ElasticsearchDoFn):
    def __init__(self, client_factory: Callable[[], Any], index: str, run_id: str):
        super().__init__(client_factory)
        self._index = index
        self._run_id = run_id
        self._written = counter("dead_letters")

    def setup(self) -> None:
        super().setup()
        ensure_aux_index(self._client, self._index, mappings_for_deadletter())

    def process(self, batch: list[DeadLetter]) -> Iterator[str]:
        failed_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        docs = [dead_letter_document(letter, self._run_id, failed_at) for letter in batch]
        report = bulk_create(self._client, self._index, docs)
        if report.failed:
            doc_id, error = report.failed[0]
            raise IndexingError(f"could not record dead letter {doc_id} in '{self._index}': {error}")
        self._written.inc(len(batch))
        yield from (doc_id for doc_id, _ in docs)


class WriteDeadLetters(beam.PTransform):
    """DeadLetter elements -> documents in the dead-letter index (ids out)."""

    def __init__(self, client_factory: Callable[[], Any], index: str, run_id: str):
        super().__init__()
        self._client_factory = client_factory
        self._index = index
        self._run_id = run_id

    def expand(self, letters: beam.PCollection[DeadLetter]):
        return (
            letters
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=500)
            | "Write" >> beam.ParDo(_Write(self._client_factory, self._index, self._run_id))
        )
