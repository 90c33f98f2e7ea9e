"""Article documents against the real Elasticsearch: bulk create and the look-up by id and text."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from connectors.errors import ElasticsearchUnavailable
from connectors.es_client import EsSettings, make_client
from connectors.es_documents import BulkReport, bulk_create, existing_ids_and_hashes
from connectors.es_index import ensure_index


def doc(n: int, **changes) -> tuple[str, dict]:
    body = {"id": f"doc-{n}", "url": f"http://wire.example/{n}", "title": f"Report {n}",
            "text": "Foreign forces in Libya.", "published": "2020-05-06T17:05:00Z",
            "content_hash": f"hash-{n}", "run_id": "run-1"}
    body.update(changes)
    return body["id"], body


@pytest.fixture
def index(es_client: Elasticsearch, es_alias: str) -> str:
    ensure_index(es_client, es_alias)
    return es_alias


@pytest.fixture
def dead_client() -> Iterator[Elasticsearch]:
    """A client for a port on which nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(EsSettings(url=f"http://127.0.0.1:{port}"), max_retries=0)
    yield client
    client.close()


# --- bulk_create ---------------------------------------------------------------------------


@pytest.mark.es
def test_new_documents_are_created(es_client: Elasticsearch, index: str) -> None:
    report = bulk_create(es_client, index, [doc(1), doc(2)])
    assert report == BulkReport(created=["doc-1", "doc-2"])
    assert es_client.get(index=index, id="doc-2")["_source"] == doc(2)[1]


@pytest.mark.es
def test_a_document_already_there_is_reported_existing_and_left_alone(
        es_client: Elasticsearch, index: str) -> None:
    bulk_create(es_client, index, [doc(1)])
    report = bulk_create(es_client, index, [doc(1, title="Rewritten", run_id="run-2"), doc(3)])
    assert report == BulkReport(created=["doc-3"], existing=["doc-1"])
    assert es_client.get(index=index, id="doc-1")["_source"]["run_id"] == "run-1"


@pytest.mark.es
def test_a_refused_document_is_reported_failed_with_a_one_line_reason(
        es_client: Elasticsearch, index: str) -> None:
    bulk_create(es_client, index, [doc(1)])
    report = bulk_create(es_client, index, [doc(1), doc(2, published="not a date"), doc(3)])
    assert (report.created, report.existing) == (["doc-3"], ["doc-1"])
    [(doc_id, error)] = report.failed
    assert doc_id == "doc-2"
    assert error.startswith("400 document_parsing_exception: ")
    assert "[published]" in error and "\n" not in error
    assert not es_client.exists(index=index, id="doc-2")


@pytest.mark.es
def test_nothing_to_write_is_an_empty_report(es_client: Elasticsearch, index: str) -> None:
    assert bulk_create(es_client, index, []) == BulkReport()


def test_an_unreachable_cluster_is_one_line_naming_the_index(dead_client: Elasticsearch) -> None:
    with pytest.raises(ElasticsearchUnavailable) as caught:
        bulk_create(dead_client, "lw-test-articles", [doc(1)])
    message = str(caught.value)
    address = dead_client.transport.node_pool.all()[0].base_url
    assert message == (f"bulk write to 'lw-test-articles': Elasticsearch at {address} "
                       "is unreachable: connection refused")


def test_an_unreachable_cluster_is_named_by_its_address(dead_client: Elasticsearch) -> None:
    address = dead_client.transport.node_pool.all()[0].base_url
    with pytest.raises(ElasticsearchUnavailable, match=address):
        bulk_create(dead_client, "lw-test-articles", [doc(1)])


# --- existing_ids_and_hashes ---------------------------------------------------------------


@pytest.mark.es
def test_known_ids_and_known_texts_are_found(es_client: Elasticsearch, index: str) -> None:
    bulk_create(es_client, index, [doc(1), doc(2)])
    es_client.indices.refresh(index=index)
    ids, hashes = existing_ids_and_hashes(
        es_client, index,
        ids=["doc-1", "doc-new", "doc-other"],       # doc-1 is there
        hashes=["hash-new", "hash-2", "hash-other"])  # doc-2's text is there
    assert ids == {"doc-1"}
    assert hashes == {"hash-2"}


@pytest.mark.es
def test_a_known_id_does_not_report_its_hash_unless_asked(es_client: Elasticsearch, index: str) -> None:
    bulk_create(es_client, index, [doc(1)])
    es_client.indices.refresh(index=index)
    assert existing_ids_and_hashes(es_client, index, ["doc-1"], ["hash-9"]) == ({"doc-1"}, set())
    assert existing_ids_and_hashes(es_client, index, ["doc-9"], ["hash-1"]) == (set(), {"hash-1"})
    assert existing_ids_and_hashes(es_client, index, ["doc-9"], ["hash-9"]) == (set(), set())


@pytest.mark.es
def test_a_missing_index_holds_nothing(es_client: Elasticsearch, es_alias: str) -> None:
    assert existing_ids_and_hashes(es_client, es_alias, ["doc-1"], ["hash-1"]) == (set(), set())


def test_nothing_to_look_up_asks_nothing(dead_client: Elasticsearch) -> None:
    # The client cannot reach anything, so an answer proves no request was made.
    assert existing_ids_and_hashes(dead_client, "lw-test-articles", [], []) == (set(), set())


def test_an_unreachable_cluster_fails_the_look_up_in_one_line(dead_client: Elasticsearch) -> None:
    with pytest.raises(ElasticsearchUnavailable,
                       match=r"^look-up in 'lw-test-articles': Elasticsearch at "
                             r"http://127\.0\.0\.1:\d+ is unreachable: connection refused$"):
        existing_ids_and_hashes(dead_client, "lw-test-articles", ["doc-1"], ["hash-1"])
