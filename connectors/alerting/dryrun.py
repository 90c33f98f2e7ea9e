"""Which rules would fire on some documents, without touching the real indices or notifying anyone.

The documents (as `enrich` writes them) go into a throw-away index with
the article mapping, the rules run there through the very same `_msearch`
as in a pass, and the index is deleted again. So a rule means exactly
what it will mean on the live index, and what Kibana would show.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from elasticsearch import Elasticsearch

from connectors.alerting.matching import STORY_FIELDS, search_rules
from connectors.alerting.rules import Rule
from connectors.errors import ConfigError, IndexingError
from connectors.es_client import client_url, translating_errors
from connectors.es_documents import bulk_create
from connectors.es_index import DEFAULT_INDEX_SETTINGS, has_analyzer, mappings_for_document

__all__ = ["TEST_INDEX_PREFIX", "test_rules"]

TEST_INDEX_PREFIX = "libya-watch-rules-test-"


def _test_mappings(client: Elasticsearch) -> dict[str, Any]:
    mappings = mappings_for_document(english=has_analyzer(client))
    for name in STORY_FIELDS:  # present once the article layout carries stories
        mappings["properties"].setdefault(name, {"type": "keyword"})
    return mappings


def _documents(documents: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for position, document in enumerate(documents):
        doc_id = document.get("id") if isinstance(document, Mapping) else None
        if not isinstance(doc_id, str) or not doc_id:
            raise ConfigError("document has no 'id'", where=f"document {position + 1}")
        docs.append((doc_id, dict(document)))
    return docs


def test_rules(client: Elasticsearch | None, rules: Sequence[Rule],
               documents: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Rule id -> ids of the documents (story heads) it would fire on, every rule listed.

    With no client, the local development server is used (started if
    needed). Documents the throw-away index refuses are an `IndexingError`:
    a rule cannot be judged on documents that did not get in.
    """
    if client is None:
        from connectors import es_local
        from connectors.es_client import EsSettings, make_client

        started = es_local.start()
        local = make_client(EsSettings(url=started.status.url))
        try:
            return test_rules(local, rules, documents)
        finally:
            local.close()

    docs = _documents(documents)
    index = f"{TEST_INDEX_PREFIX}{uuid.uuid4().hex[:12]}"
    where = client_url(client)
    with translating_errors(f"creating the throw-away index '{index}'", where):
        client.indices.create(index=index, mappings=_test_mappings(client),
                              settings=dict(DEFAULT_INDEX_SETTINGS))
    try:
        if docs:
            report = bulk_create(client, index, docs)
            if report.failed:
                doc_id, error = report.failed[0]
                raise IndexingError(f"{len(report.failed)} documents refused by the test index, "
                                    f"first {doc_id}: {error}")
        with translating_errors(f"refreshing '{index}'", where):
            client.indices.refresh(index=index)
        hits = search_rules(client, index, rules, run_ids=None)
    finally:
        with translating_errors(f"deleting the throw-away index '{index}'", where):
            client.options(ignore_status=404).indices.delete(index=index)
    return {rule.id: [hit["_id"] for hit in hits[rule.id]] for rule in rules}


test_rules.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name
