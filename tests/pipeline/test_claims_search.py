"""Actors and claims are searchable in the real Elasticsearch, as an analyst would query them."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from pipeline.cli import main
from tests.feedfactory import rss
from tests.feedserver import FeedServer, Reply

pytestmark = pytest.mark.es

ITEMS = {
    "wagner": {"title": "Wagner mercenaries deployed in Libya, UN report says",
               "link": "http://wire.example/wagner-libya",
               "published": "2020-05-06T17:05:00Z",
               "body": "Wagner Group has up to 1,200 mercenaries deployed in Libya to support "
                       "Khalifa Haftar, according to a confidential UN report seen by Reuters."},
    "denial": {"title": "Kremlin denies Russian mercenaries fight in Libya",
               "link": "http://wire.example/kremlin-denial",
               "published": "2020-05-07T09:00:00Z",
               "body": "The Kremlin denied that Russian mercenaries are fighting in Libya, "
                       "calling the reports about Haftar's backers false."},
    "mixed": {"title": "Russian jets and Sudanese fighters bolster Haftar in Libya",
              "link": "http://wire.example/jets-and-fighters",
              "published": "2020-05-26T12:00:00Z",
              "body": "Russia sent fighter jets to Haftar's forces in Libya, the U.S. military said. "
                      "Separately, Sudanese mercenaries are fighting for the Libyan National Army, "
                      "a UN panel of experts said."},
    "turkey": {"title": "Turkey sends drones and advisers to the GNA",
               "link": "http://wire.example/turkey-gna",
               "published": "2020-05-20T11:00:00Z",
               "body": "Turkey has sent armed drones and military advisers to the Government of "
                       "National Accord in Tripoli, Libya, officials in Ankara said."},
}


@pytest.fixture
def indexed(es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path) -> dict[str, str]:
    """Runs the pipeline over one feed of the items; returns item name -> document id."""
    with FeedServer() as server:
        url = server.route("/wire.xml", Reply(body=rss(ITEMS.values())))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - url: {url}\n    name: Wire\n", encoding="utf-8")
        assert main(["run", "--feeds", str(feeds), "--es", es_server.url, "--index", es_alias]) == 0
    es_client.indices.refresh(index=es_alias)
    hits = es_client.search(index=es_alias, size=20, source=["url"])["hits"]["hits"]
    by_url = {hit["_source"]["url"]: hit["_id"] for hit in hits}
    return {name: by_url[item["link"]] for name, item in ITEMS.items()}


def _ids(client: Elasticsearch, alias: str, **search) -> set[str]:
    return {hit["_id"] for hit in client.search(index=alias, size=20, source=False, **search)["hits"]["hits"]}


def test_one_nested_query_finds_asserted_russian_mercenary_claims_only(
        indexed: dict[str, str], es_client: Elasticsearch, es_alias: str) -> None:
    query = {"nested": {"path": "claims", "query": {"bool": {"filter": [
        {"term": {"claims.country": "russia"}},
        {"term": {"claims.type": "mercenaries"}},
        {"term": {"claims.polarity": "asserted"}}]}}}}
    # "mixed" has a Russian claim and a mercenary claim, but not in one claim.
    assert _ids(es_client, es_alias, query=query) == {indexed["wagner"]}


def test_denials_are_found_apart_from_assertions(
        indexed: dict[str, str], es_client: Elasticsearch, es_alias: str) -> None:
    query = {"nested": {"path": "claims", "query": {"bool": {"filter": [
        {"term": {"claims.country": "russia"}}, {"term": {"claims.polarity": "denied"}}]}}}}
    assert _ids(es_client, es_alias, query=query) == {indexed["denial"]}


def test_lucene_query_string_reaches_claims_and_actors(
        indexed: dict[str, str], es_client: Elasticsearch, es_alias: str) -> None:
    """What a Kibana user types: the flat keyword lists stand in for the nested fields."""
    lucene = {"query_string": {"query": 'claim_keys:"russia:mercenaries:asserted"'}}
    assert _ids(es_client, es_alias, query=lucene) == {indexed["wagner"]}
    lucene = {"query_string": {"query": "actor_ids:turkey AND claim_types:weapons"}}
    assert _ids(es_client, es_alias, query=lucene) == {indexed["turkey"]}


def test_claims_aggregate_by_country_and_type(
        indexed: dict[str, str], es_client: Elasticsearch, es_alias: str) -> None:
    response = es_client.search(index=es_alias, size=0, aggs={"claims": {
        "nested": {"path": "claims"},
        "aggs": {"by_country": {"terms": {"field": "claims.country"},
                                "aggs": {"by_type": {"terms": {"field": "claims.type"}}}}}}})
    buckets = {b["key"]: {t["key"] for t in b["by_type"]["buckets"]}
               for b in response["aggregations"]["claims"]["by_country"]["buckets"]}
    assert {"mercenaries", "weapons"} <= buckets["russia"]
    assert {"weapons", "troops"} <= buckets["turkey"]
    assert buckets["sudan"] == {"mercenaries"}


def test_actor_objects_carry_name_type_country_and_surfaces(
        indexed: dict[str, str], es_client: Elasticsearch, es_alias: str) -> None:
    source = es_client.get(index=es_alias, id=indexed["wagner"])["_source"]
    actors = {a["id"]: a for a in source["actors"]}
    assert actors["wagner_group"]["country"] == "russia"
    assert "Wagner Group" in actors["wagner_group"]["surfaces"]
    assert source["actor_ids"] == sorted(source["actor_ids"])
    assert {"wagner_group", "khalifa_haftar", "un"} <= set(source["actor_ids"])
