"""Dead letters: stable ids, and the writer against the real Elasticsearch."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from elasticsearch import Elasticsearch

from connectors.errors import IndexingError
from connectors.es_client import EsSettings, make_client
from pipeline.launch import _finish
from transforms.deadletter import WriteDeadLetters, dead_letter_document
from transforms.model import DeadLetter

FETCH_FAILED = DeadLetter(stage="fetch", key="http://wire.example/gone.xml",
                          error="http://wire.example/gone.xml: HTTP 404 Not Found",
                          feed_url="http://wire.example/gone.xml")
REFUSED = DeadLetter(stage="index", key="doc-7", error="400 document_parsing_exception: published",
                     feed_url="http://wire.example/rss")


# --- dead_letter_document ------------------------------------------------------------------


def test_the_body_is_the_letter_plus_the_run_and_when() -> None:
    doc_id, body = dead_letter_document(FETCH_FAILED, "run-1", "2020-06-07T09:30:00Z")
    assert body == {"stage": "fetch", "key": "http://wire.example/gone.xml",
                    "error": "http://wire.example/gone.xml: HTTP 404 Not Found",
                    "feed_url": "http://wire.example/gone.xml", "run_id": "run-1",
                    "failed_at": "2020-06-07T09:30:00Z"}
    identity = "\x1f".join(["run-1", "fetch", "http://wire.example/gone.xml",
                            "http://wire.example/gone.xml: HTTP 404 Not Found",
                            "http://wire.example/gone.xml"])
    assert doc_id == hashlib.sha1(identity.encode()).hexdigest()


def test_the_id_is_stable_for_the_same_letter_in_a_run() -> None:
    first, _ = dead_letter_document(FETCH_FAILED, "run-1", "2020-06-07T09:30:00Z")
    again, _ = dead_letter_document(FETCH_FAILED, "run-1", "2020-06-07T09:31:00Z")
    assert first == again


def test_the_id_differs_by_run_stage_key_and_error() -> None:
    base, _ = dead_letter_document(FETCH_FAILED, "run-1")
    others = {
        dead_letter_document(FETCH_FAILED, "run-2")[0],
        dead_letter_document(replace(FETCH_FAILED, stage="parse"), "run-1")[0],
        dead_letter_document(replace(FETCH_FAILED, key="http://wire.example/other.xml"), "run-1")[0],
        dead_letter_document(replace(FETCH_FAILED, error="HTTP 410 Gone"), "run-1")[0],
    }
    assert base not in others and len(others) == 4


# --- WriteDeadLetters (real Elasticsearch) -------------------------------------------------


def _write(es_url: str, index: str, run_id: str, letters: list[DeadLetter]) -> None:
    expected = [dead_letter_document(letter, run_id)[0] for letter in letters]
    with BeamTestPipeline() as p:
        ids = (p
               | beam.Create(letters)
               | WriteDeadLetters(functools.partial(make_client, EsSettings(url=es_url)),
                                  index, run_id))
        assert_that(ids, equal_to(expected))


@pytest.mark.es
def test_letters_are_stored_once_even_when_written_again_in_the_run(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    index = f"{es_alias}-deadletter"
    _write(es_server.url, index, "run-1", [FETCH_FAILED, REFUSED])
    _write(es_server.url, index, "run-1", [FETCH_FAILED])  # a retried bundle: no error, no copy

    es_client.indices.refresh(index=index)
    assert es_client.count(index=index)["count"] == 2
    doc_id, body = dead_letter_document(REFUSED, "run-1")
    stored = es_client.get(index=index, id=doc_id)["_source"]
    assert stored.pop("failed_at").endswith("Z")
    assert stored == body


@pytest.mark.es
def test_an_index_that_cannot_hold_letters_fails_the_run_naming_it(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    index = f"{es_alias}-deadletter"
    # An index whose mapping cannot hold a letter: `stage` must be a number here.
    es_client.indices.create(index=index, mappings={"properties": {"stage": {"type": "integer"}}})
    p = beam.Pipeline()
    _ = (p
         | beam.Create([REFUSED])
         | WriteDeadLetters(functools.partial(make_client, EsSettings(url=es_server.url)),
                            index, "run-1"))
    with pytest.raises(IndexingError) as caught:
        _finish(p)
    message = str(caught.value)
    assert f"'{index}'" in message and "stage" in message and "\n" not in message
    es_client.indices.refresh(index=index)
    assert es_client.count(index=index)["count"] == 0


@pytest.mark.es
def test_letters_land_in_an_index_with_the_dead_letter_mapping(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    index = f"{es_alias}-deadletter"
    _write(es_server.url, index, "run-1", [FETCH_FAILED])
    properties = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert properties["stage"] == {"type": "keyword"}
    assert properties["key"]["type"] == "keyword"
