"""Reading and writing article documents: bulk create with per-item retries, and look-ups.

Writes use the `create` operation with the article id as `_id`, so a
document that is already there comes back as a conflict (409) instead of
being written twice: a re-run after a crash can never duplicate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch

from connectors.errors import ElasticsearchUnavailable
from connectors.es_client import RETRY_ON_STATUS, client_url, translating_errors

__all__ = ["BulkReport", "bulk_create", "existing_ids_and_hashes"]


@dataclass
class BulkReport:
    """What happened to each document of one bulk call."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _item_error(item: dict[str, Any]) -> str:
    error = item.get("error") or {}
    if isinstance(error, dict):
        return f"{item.get('status')} {error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return f"{item.get('status')} {error}"


def bulk_create(client: Elasticsearch, index: str, docs: Sequence[tuple[str, dict[str, Any]]],
                max_retries: int = 5, initial_backoff: float = 0.5,
                max_backoff: float = 10.0) -> BulkReport:
    """Creates documents; retries the items refused with 429/5xx, reports every other failure.

    Raises ElasticsearchUnavailable when the cluster cannot be reached, or
    still refuses items after `max_retries`, so the run fails instead of
    losing them.
    """
    report = BulkReport()
    pending = list(docs)
    for attempt in range(max_retries + 1):
        if not pending:
            break
        if attempt:
            delay = min(max_backoff, initial_backoff * 2 ** (attempt - 1))
            time.sleep(delay * (0.5 + random.random() / 2))
        operations: list[dict[str, Any]] = []
        for doc_id, doc in pending:
            operations.append({"create": {"_index": index, "_id": doc_id}})
            operations.append(doc)
        with translating_errors(f"bulk write to '{index}'", client_url(client)):
            response = client.bulk(operations=operations)
        retry: list[tuple[str, dict[str, Any]]] = []
        for (doc_id, doc), item in zip(pending, response["items"]):
            result = item["create"]
            status = result.get("status", 0)
            if 200 <= status < 300:
                report.created.append(doc_id)
            elif status == 409:
                report.existing.append(doc_id)
            elif status in RETRY_ON_STATUS:
                retry.append((doc_id, doc))
            else:
                report.failed.append((doc_id, _item_error(result)))
        pending = retry
    if pending:
        raise ElasticsearchUnavailable(
            f"Elasticsearch kept refusing {len(pending)} documents for '{index}' "
            f"after {max_retries} retries")
    return report


def existing_ids_and_hashes(client: Elasticsearch, alias: str, ids: Iterable[str],
                            hashes: Iterable[str]) -> tuple[set[str], set[str]]:
    """Which of these ids and content hashes the index already holds."""
    ids, hashes = sorted(set(ids)), sorted(set(hashes))
    if not ids and not hashes:
        return set(), set()
    with translating_errors(f"look-up in '{alias}'", client_url(client)):
        response = client.search(
            index=alias,
            query={"bool": {"should": [{"ids": {"values": ids}},
                                       {"terms": {"content_hash": hashes}}]}},
            source=["content_hash"], size=min(10_000, 2 * (len(ids) + len(hashes))),
            ignore_unavailable=True, allow_no_indices=True)
    seen_ids: set[str] = set()
    seen_hashes: set[str] = set()
    for hit in response["hits"]["hits"]:
        seen_ids.add(hit["_id"])
        if hit.get("_source", {}).get("content_hash"):
            seen_hashes.add(hit["_source"]["content_hash"])
    return seen_ids & set(ids), seen_hashes & set(hashes)
