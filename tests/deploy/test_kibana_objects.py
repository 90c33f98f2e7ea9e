"""Kibana saved objects: references that resolve, real fields, searches that find the right stories.

Kibana itself is not available to the tests; what Kibana would ask of
Elasticsearch is asked of the real one instead: each saved search's Lucene
query with its filters and sort, each Lens layer's aggregation, over
documents the real tagger produced (`run_enrich`) and alerts the real
alert rules fired. The import script is run against a stand-in for Kibana's
import endpoint on 127.0.0.1 that records what it received.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import importlib.util
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from elasticsearch import Elasticsearch

from connectors.alerting.matching import match_rules, search_rules
from connectors.alerting.rules import POLARITIES, load_rules
from connectors.alerting.store import (alerts_index_name, ensure_alerts_index, mappings_for_alerts,
                                       record_alerts)
from connectors.es_documents import bulk_create
from connectors.es_index import ensure_index, mappings_for_document
from pipeline.cli import DEFAULT_ALIAS
from pipeline.launch import run_enrich
from tests.localca import server_tls
from transforms.actors import load_gazetteer
from transforms.claims import CLAIM_TYPES

ROOT = Path(__file__).resolve().parents[2]
KIBANA_DIR = ROOT / "deploy" / "kibana"
NDJSON = KIBANA_DIR / "saved_objects.ndjson"
DOCUMENTS_VIEW = "libya-watch-data-view-documents"
ALERTS_VIEW = "libya-watch-data-view-alerts"
RUN_ID = "run-kibana-test"

# --- reading the objects -------------------------------------------------------------


def read_export(path: Path = NDJSON) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The saved objects and the export summary (the last line, as Kibana writes it)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{path.name}:{number}: not JSON: {exc}") from exc
    return parsed[:-1], parsed[-1]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return read_export()[0]


def by_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


def by_title(objects: list[dict[str, Any]], title: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["attributes"].get("title") == title]
    return found


def search_source(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


def data_view_of(obj: dict[str, Any]) -> str:
    """The id of the data view an object reads (each object here reads exactly one)."""
    (view,) = {ref["id"] for ref in obj["references"] if ref["type"] == "index-pattern"}
    return view


def lens_layers(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]


def lucene_queries(obj: dict[str, Any]) -> list[str]:
    """Every Lucene query string an object holds."""
    if obj["type"] in ("search", "dashboard"):
        query = search_source(obj)["query"]
    elif obj["type"] == "lens":
        query = obj["attributes"]["state"]["query"]
    else:
        return []
    assert query["language"] == "lucene", f"{obj['id']}: query language {query['language']}"
    return [query["query"]] if query["query"] else []


# --- Lucene field names ------------------------------------------------------------------

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_EXISTS = re.compile(r"_exists_\s*:\s*([A-Za-z_][\w.]*)")
_FIELD = re.compile(r"(?<![\w.\\])([A-Za-z_][\w.]*)\s*:")


def lucene_fields(query: str) -> set[str]:
    """Field names a Lucene query string names: `field:`, and `_exists_:field`."""
    unquoted = _QUOTED.sub(" ", query)
    fields = set(_EXISTS.findall(unquoted))
    fields |= {name for name in _FIELD.findall(unquoted) if name != "_exists_"}
    return fields


def lucene_values(query: str, name: str) -> set[str]:
    """The bare values given to one field: `name:value` or `name:(a OR b)`."""
    values: set[str] = set()
    for group, single in re.findall(rf"(?<![\w.]){re.escape(name)}\s*:\s*(?:\(([^)]*)\)|([\w-]+))",
                                    query):
        words = group.split() if group else [single]
        values |= {w for w in words if w not in ("OR", "AND", "NOT")}
    return values


def test_lucene_fields_reads_field_names_and_exists_but_not_quoted_values() -> None:
    query = ('actor_ids:(a OR b) AND NOT _exists_:duplicate_of OR claim_keys:"russia:troops:asserted"'
             ' OR relevance.matched:libya OR title : x OR wagner OR "title: no"')
    assert lucene_fields(query) == {"actor_ids", "duplicate_of", "claim_keys",
                                    "relevance.matched", "title"}
    assert lucene_values(query, "actor_ids") == {"a", "b"}
    assert lucene_values(query, "relevance.matched") == {"libya"}


# --- the mappings as Kibana sees them ------------------------------------------------------


@dataclass(frozen=True)
class MappedField:
    path: str
    type: str
    nested: bool  # under a nested object: out of reach of Lucene query strings
    indexed: bool = True  # False for a disabled object: kept in _source only

    @property
    def aggregatable(self) -> bool:
        return self.indexed and self.type != "text" and not self.nested


def mapped_fields(mapping: Mapping[str, Any]) -> dict[str, MappedField]:
    """Every field path of a mapping, multi-fields included; a disabled object is one
    unindexed entry."""
    found: dict[str, MappedField] = {}

    def walk(properties: Mapping[str, Any], prefix: str, nested: bool) -> None:
        for name, spec in properties.items():
            path = prefix + name
            if "properties" in spec:
                walk(spec["properties"], path + ".", nested or spec.get("type") == "nested")
            elif not spec.get("enabled", True):
                found[path] = MappedField(path, spec.get("type", "object"), nested, indexed=False)
            else:
                found[path] = MappedField(path, spec["type"], nested)
                for sub, sub_spec in spec.get("fields", {}).items():
                    found[f"{path}.{sub}"] = MappedField(f"{path}.{sub}", sub_spec["type"], nested)

    walk(mapping["properties"], "", False)
    return found


MAPPINGS = {DOCUMENTS_VIEW: mapped_fields(mappings_for_document(english=False)),
            ALERTS_VIEW: mapped_fields(mappings_for_alerts())}


@dataclass(frozen=True)
class FieldUse:
    """One field an object names, and what Kibana will do with it."""

    object_id: str
    view: str
    where: str
    field: str
    need: str  # "shown", "searched", "sorted", "aggregated", "time"


def field_uses(objects: list[dict[str, Any]]) -> list[FieldUse]:
    uses: list[FieldUse] = []
    for obj in objects:
        oid, attrs = obj["id"], obj["attributes"]
        if obj["type"] == "index-pattern":
            uses.append(FieldUse(oid, oid, "timeFieldName", attrs["timeFieldName"], "time"))
            for key in ("fieldAttrs", "fieldFormatMap"):
                uses += [FieldUse(oid, oid, key, name, "shown") for name in json.loads(attrs[key])]
            uses += [FieldUse(oid, oid, "sourceFilters", f["value"], "shown")
                     for f in json.loads(attrs["sourceFilters"])]
            continue
        if obj["type"] == "dashboard":
            continue  # its query is empty and its panels are checked on their own
        view = data_view_of(obj)
        uses += [FieldUse(oid, view, "query", name, "searched")
                 for query in lucene_queries(obj) for name in lucene_fields(query)]
        if obj["type"] == "search":
            uses += [FieldUse(oid, view, "columns", name, "shown") for name in attrs["columns"]]
            uses += [FieldUse(oid, view, "sort", name, "sorted") for name, _ in attrs["sort"]]
            for kibana_filter in search_source(obj)["filter"]:
                uses.append(FieldUse(oid, view, "filter", kibana_filter["meta"]["key"], "searched"))
                uses += [FieldUse(oid, view, "filter", name, "searched")
                         for name in _query_dsl_fields(kibana_filter["query"])]
        if obj["type"] == "lens":
            for layer in lens_layers(obj).values():
                uses += [FieldUse(oid, view, f"column {cid}", column["sourceField"], "aggregated")
                         for cid, column in layer["columns"].items()
                         if column["sourceField"] != "___records___"]
    return uses


def _query_dsl_fields(query: Mapping[str, Any]) -> set[str]:
    """Field names of a Kibana filter's query (exists, term(s), match_phrase, range)."""
    ((kind, body),) = query.items()
    if kind == "exists":
        return {body["field"]}
    if kind == "bool":
        return {name for clauses in body.values() for clause in clauses
                for name in _query_dsl_fields(clause)}
    return set(body)


def field_problems(uses: list[FieldUse]) -> list[str]:
    problems = []
    for use in uses:
        known = MAPPINGS[use.view].get(use.field)
        label = f"{use.object_id} {use.where}: '{use.field}'"
        if known is None:
            problems.append(f"{label} is not in the mapping")
        elif known.nested:  # Lucene, sorting, Lens and Discover columns want the flat lists
            problems.append(f"{label} is nested: use its flat field")
        elif use.need == "searched" and not known.indexed:
            problems.append(f"{label} is not indexed")
        elif use.need in ("sorted", "aggregated") and not known.aggregatable:
            problems.append(f"{label} ({known.type}) cannot be {use.need}")
        elif use.need == "time" and known.type != "date":
            problems.append(f"{label} is a {known.type}, not a date")
    return problems


# --- the file itself ------------------------------------------------------------------------


def test_the_file_is_a_kibana_export_with_unique_prefixed_ids(objects: list[dict[str, Any]]) -> None:
    _, summary = read_export()
    assert summary["exportedCount"] == len(objects) and summary["missingRefCount"] == 0
    ids = [(o["type"], o["id"]) for o in objects]
    assert len(ids) == len(set(ids))
    assert len({o["id"] for o in objects}) == len(objects)
    for obj in objects:
        assert obj["id"].startswith("libya-watch-"), obj["id"]
        assert {"attributes", "references", "type", "typeMigrationVersion",
                "coreMigrationVersion"} <= set(obj), obj["id"]
    assert {o["type"] for o in objects} == {"index-pattern", "search", "lens", "dashboard"}


def test_every_reference_resolves_and_every_reference_name_is_used(
        objects: list[dict[str, Any]]) -> None:
    present = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['id']}: duplicate reference names"
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} -> {ref}"
        assert set(names) == _reference_names_used(obj), obj["id"]


def _reference_names_used(obj: dict[str, Any]) -> set[str]:
    """The reference names an object's attributes point at, the way Kibana injects them."""
    if obj["type"] == "search":
        source = search_source(obj)
        return {source["indexRefName"]} | {f["meta"]["indexRefName"] for f in source["filter"]}
    if obj["type"] == "lens":
        return {f"indexpattern-datasource-layer-{layer}" for layer in lens_layers(obj)}
    if obj["type"] == "dashboard":
        panels = json.loads(obj["attributes"]["panelsJSON"])
        return {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels}
    return set()


def test_the_data_views_read_the_write_alias_and_the_alerts_index_by_their_dates(
        objects: list[dict[str, Any]]) -> None:
    views = {o["id"]: o["attributes"] for o in by_type(objects, "index-pattern")}
    assert set(views) == {DOCUMENTS_VIEW, ALERTS_VIEW}
    assert (views[DOCUMENTS_VIEW]["title"], views[DOCUMENTS_VIEW]["timeFieldName"]) == (
        DEFAULT_ALIAS, "published")
    assert (views[ALERTS_VIEW]["title"], views[ALERTS_VIEW]["timeFieldName"]) == (
        alerts_index_name(DEFAULT_ALIAS), "matched_at")


def test_every_field_named_anywhere_exists_with_what_kibana_needs_of_it(
        objects: list[dict[str, Any]]) -> None:
    uses = field_uses(objects)
    assert {u.object_id for u in uses} == {o["id"] for o in objects
                                           if o["type"] != "dashboard"}
    assert field_problems(uses) == []


def test_the_field_check_catches_unknown_nested_and_text_fields() -> None:
    uses = [FieldUse("x", DOCUMENTS_VIEW, "query", "actors.id", "searched"),
            FieldUse("x", DOCUMENTS_VIEW, "columns", "actor", "shown"),
            FieldUse("x", DOCUMENTS_VIEW, "columns", "claims.country", "shown"),
            FieldUse("x", DOCUMENTS_VIEW, "column c", "title", "aggregated"),
            FieldUse("x", ALERTS_VIEW, "sort", "delivery", "sorted"),
            FieldUse("x", DOCUMENTS_VIEW, "query", "minhash", "searched"),
            FieldUse("x", DOCUMENTS_VIEW, "query", "title.keyword", "searched"),
            FieldUse("x", DOCUMENTS_VIEW, "time", "published_source", "time")]
    assert field_problems(uses) == [
        "x query: 'actors.id' is nested: use its flat field",
        "x columns: 'actor' is not in the mapping",
        "x columns: 'claims.country' is nested: use its flat field",
        "x column c: 'title' (text) cannot be aggregated",
        "x sort: 'delivery' (object) cannot be sorted",
        "x query: 'minhash' is not indexed",
        "x time: 'published_source' is a keyword, not a date"]


def test_query_values_are_real_actor_ids_claim_types_and_polarities(
        objects: list[dict[str, Any]]) -> None:
    vocabulary = {"actor_ids": set(load_gazetteer().actors), "claim_types": set(CLAIM_TYPES),
                  "claim_polarities": set(POLARITIES)}
    named = {name: set() for name in vocabulary}
    for obj in objects:
        for query in lucene_queries(obj):
            for name, known in vocabulary.items():
                values = lucene_values(query, name)
                assert values <= known, f"{obj['id']}: {name} {values - known}"
                named[name] |= values
    assert {"wagner_group", "africa_corps"} <= named["actor_ids"]
    assert named["claim_polarities"] == {"denied"}


def test_saved_searches_are_lucene_and_document_searches_keep_one_document_per_story(
        objects: list[dict[str, Any]]) -> None:
    titles = {o["attributes"]["title"] for o in by_type(objects, "search")}
    assert titles == {"Wagner / Africa Corps in Libya", "Foreign-involvement claims by country",
                      "Denials", "Latest alerts"}
    for obj in by_type(objects, "search"):
        source = search_source(obj)
        assert source["query"]["language"] == "lucene"
        if data_view_of(obj) == DOCUMENTS_VIEW:
            (heads,) = source["filter"]
            assert heads["meta"]["negate"] is True and not heads["meta"]["disabled"]
            assert heads["query"] == {"exists": {"field": "duplicate_of"}}


def test_the_dashboard_shows_every_visualization_and_search_without_overlap(
        objects: list[dict[str, Any]]) -> None:
    (dashboard,) = by_type(objects, "dashboard")
    assert dashboard["attributes"]["title"] == "libya-watch"
    assert search_source(dashboard)["query"]["language"] == "lucene"
    shown = {(ref["type"], ref["id"]) for ref in dashboard["references"]}
    assert shown == {(o["type"], o["id"]) for o in objects if o["type"] in ("lens", "search")}
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"] and grid["x"] + grid["w"] <= 48
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"panel {panel['panelIndex']} overlaps another"
        cells |= area


# --- against the real Elasticsearch -------------------------------------------------------

ARTICLES = [
    {"id": "wagner", "title": "Wagner mercenaries deployed in Libya, UN report says",
     "url": "https://wire.example/wagner-libya", "outlet": "Wire",
     "published": "2020-05-06T17:05:00Z", "language": "en",
     "text": "Wagner Group has up to 1,200 mercenaries deployed in Libya to support Khalifa "
             "Haftar, according to a confidential UN report seen by Reuters."},
    # Another desk's rewrite of the same wire story: a copy (duplicate_of = wagner).
    {"id": "wagner-copy", "title": "UN report: 1,200 Wagner mercenaries deployed in Libya",
     "url": "https://desk.example/wagner-un-report", "outlet": "Desk",
     "published": "2020-05-07T08:00:00Z", "language": "en",
     "text": "Wagner Group has up to 1,200 mercenaries deployed in Libya to support Khalifa "
             "Haftar, according to a confidential UN report seen by Reuters on Wednesday."},
    {"id": "africa-corps", "title": "Africa Corps flies equipment into southern Libya",
     "url": "https://wire.example/africa-corps", "outlet": "Wire",
     "published": "2024-05-10T10:00:00Z", "language": "en",
     "text": "Russia's Africa Corps has flown military equipment and personnel into the Brak "
             "al-Shati air base in southern Libya, satellite images show."},
    {"id": "wagner-mali", "title": "Wagner fighters patrol near Timbuktu",
     "url": "https://wire.example/wagner-mali", "outlet": "Wire",
     "published": "2023-03-01T10:00:00Z", "language": "en",
     "text": "Wagner Group fighters patrolled near Timbuktu in Mali alongside the Malian army, "
             "residents said."},
    {"id": "turkey", "title": "Turkey sends drones and advisers to the GNA",
     "url": "https://wire.example/turkey-gna", "outlet": "Wire",
     "published": "2020-05-20T11:00:00Z", "language": "en",
     "text": "Turkey has sent armed drones and military advisers to the Government of National "
             "Accord in Tripoli, Libya, officials in Ankara said."},
    {"id": "denial", "title": "Kremlin denies Russian mercenaries fight in Libya",
     "url": "https://wire.example/kremlin-denial", "outlet": "Agency",
     "published": "2020-05-07T09:00:00Z", "language": "en",
     "text": "The Kremlin denied that Russian mercenaries are fighting in Libya, calling the "
             "reports about Haftar's backers false."},
    {"id": "opera", "title": "Opera season opens with Richard Wagner",
     "url": "https://culture.example/opera", "outlet": "Culture",
     "published": "2020-05-08T19:00:00Z", "language": "en",
     "text": "The Bayreuth festival opened with Richard Wagner's Parsifal."},
]


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The documents the real transforms make of ARTICLES, with the sink's run bookkeeping."""
    folder = tmp_path_factory.mktemp("enrich")
    source, output = folder / "articles.jsonl", folder / "documents.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    run_enrich(str(source), output, [])
    docs = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    by_id = {d["id"]: {**d, "run_id": RUN_ID, "indexed_at": "2024-06-01T00:00:00Z"} for d in docs}
    assert sorted(by_id) == sorted(a["id"] for a in ARTICLES)
    # What the searches below rely on; if the tagger changes, these say so first.
    assert by_id["wagner-copy"]["duplicate_of"] == "wagner"
    assert "wagner_group" in by_id["wagner"]["actor_ids"]
    assert "africa_corps" in by_id["africa-corps"]["actor_ids"]
    assert "wagner_group" in by_id["wagner-mali"]["actor_ids"]
    assert "wagner_group" not in by_id["opera"]["actor_ids"]
    assert by_id["denial"]["claim_polarities"] == ["denied"]
    return by_id


@pytest.fixture
def indexed(es_client: Elasticsearch, es_alias: str,
            documents: dict[str, dict[str, Any]]) -> str:
    """The documents in a fresh alias with the real mapping; returns the alias."""
    ensure_index(es_client, es_alias)
    report = bulk_create(es_client, es_alias, list(documents.items()))
    assert report.failed == [] and len(report.created) == len(documents)
    es_client.indices.refresh(index=es_alias)
    return es_alias


def run_saved_search(client: Elasticsearch, index: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The hits Discover would show: the Lucene query, the enabled filters, the saved sort."""
    source = search_source(obj)
    query = source["query"]["query"]
    bool_query: dict[str, list[Any]] = {
        "must": [{"query_string": {"query": query, "analyze_wildcard": True}} if query
                 else {"match_all": {}}],
        "filter": [], "must_not": []}
    for kibana_filter in source["filter"]:
        if kibana_filter["meta"].get("disabled"):
            continue
        slot = "must_not" if kibana_filter["meta"].get("negate") else "filter"
        bool_query[slot].append(kibana_filter["query"])
    sort = [{name: {"order": order}} for name, order in obj["attributes"]["sort"]]
    response = client.search(index=index, query={"bool": bool_query}, sort=sort, size=100)
    return response["hits"]["hits"]


def ids(hits: list[dict[str, Any]]) -> list[str]:
    return [hit["_id"] for hit in hits]


@pytest.mark.es
def test_wagner_search_finds_story_heads_naming_wagner_or_africa_corps_in_libya(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]]) -> None:
    hits = run_saved_search(es_client, indexed, by_title(objects, "Wagner / Africa Corps in Libya"))
    # Not the copy (one document per story), not Wagner in Mali, not Turkey, not the composer.
    assert ids(hits) == ["africa-corps", "wagner"]  # newest first


@pytest.mark.es
def test_wagner_search_finds_what_the_wagner_alert_rule_fires_on(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]]) -> None:
    (rule,) = [r for r in load_rules() if r.id == "wagner-africa-corps-libya"]
    fired = {hit["_id"] for hit in search_rules(es_client, indexed, [rule], None)[rule.id]}
    hits = run_saved_search(es_client, indexed, by_title(objects, "Wagner / Africa Corps in Libya"))
    assert set(ids(hits)) == fired


@pytest.mark.es
def test_claims_search_lists_story_heads_with_claims_by_country_then_newest(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]],
        documents: dict[str, dict[str, Any]]) -> None:
    hits = run_saved_search(es_client, indexed,
                            by_title(objects, "Foreign-involvement claims by country"))
    assert ids(hits) == ["africa-corps", "denial", "wagner", "turkey"]
    assert {d["id"] for d in documents.values()
            if d["claims"] and not d["duplicate_of"]} == set(ids(hits))


@pytest.mark.es
def test_denials_search_finds_only_stories_with_a_denied_claim(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]],
        documents: dict[str, dict[str, Any]]) -> None:
    hits = run_saved_search(es_client, indexed, by_title(objects, "Denials"))
    assert ids(hits) == ["denial"]
    for hit in hits:
        assert any(claim["polarity"] == "denied" for claim in hit["_source"]["claims"])
    others = [d for d in documents.values() if d["id"] not in ids(hits)]
    assert not any(c["polarity"] == "denied" for d in others for c in d["claims"])


@pytest.mark.es
def test_latest_alerts_search_shows_every_alert_newest_match_first(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]]) -> None:
    rules = {rule.id: rule for rule in load_rules()}
    wagner = match_rules(es_client, indexed, [rules["wagner-africa-corps-libya"]], [RUN_ID])
    claims = match_rules(es_client, indexed, [rules["new-foreign-involvement-claim"]], [RUN_ID])
    older = [replace(a, matched_at="2024-06-01T10:00:00Z") for a in wagner]
    newer = [replace(a, matched_at="2024-06-02T10:00:00Z") for a in claims]
    assert len(record_alerts(es_client, indexed, older + newer)) == 6
    hits = run_saved_search(es_client, alerts_index_name(indexed),
                            by_title(objects, "Latest alerts"))
    assert set(ids(hits[:4])) == {a.id for a in newer}
    assert set(ids(hits[4:])) == {a.id for a in older}
    assert {hit["_source"]["doc_id"] for hit in hits[:4]} == {
        "wagner", "africa-corps", "turkey", "denial"}


@pytest.mark.es
def test_every_query_is_valid_lucene_on_the_real_index(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]]) -> None:
    ensure_alerts_index(es_client, indexed)
    index_of = {DOCUMENTS_VIEW: indexed, ALERTS_VIEW: alerts_index_name(indexed)}
    checked = 0
    for obj in objects:
        if obj["type"] in ("index-pattern", "dashboard"):
            continue
        for query in lucene_queries(obj):
            answer = es_client.indices.validate_query(
                index=index_of[data_view_of(obj)], explain=True,
                query={"query_string": {"query": query, "analyze_wildcard": True}})
            assert answer["valid"], f"{obj['id']}: {answer.get('explanations')}"
            checked += 1
    assert checked == 5  # three saved searches and two Lens layers; the rest are empty


@pytest.mark.es
def test_every_field_has_the_capabilities_kibana_needs_in_the_real_index(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]]) -> None:
    ensure_alerts_index(es_client, indexed)
    index_of = {DOCUMENTS_VIEW: indexed, ALERTS_VIEW: alerts_index_name(indexed)}
    caps = {view: es_client.field_caps(index=index, fields="*")["fields"]
            for view, index in index_of.items()}
    for use in field_uses(objects):
        if use.where == "sourceFilters":  # _source paths: a disabled object has no capabilities
            mapping = es_client.indices.get_mapping(index=index_of[use.view])
            (properties,) = [m["mappings"]["properties"] for m in mapping.body.values()]
            assert use.field in properties, f"{use.object_id} {use.where}: {use.field}"
            continue
        assert use.field in caps[use.view], f"{use.object_id} {use.where}: {use.field}"
        (cap,) = caps[use.view][use.field].values()
        if use.need in ("sorted", "aggregated"):
            assert cap["aggregatable"], f"{use.object_id} {use.where}: {use.field}"
        if use.need == "searched":
            assert cap["searchable"], f"{use.object_id} {use.where}: {use.field}"
        if use.need == "time":
            assert cap["type"] == "date", f"{use.object_id}: {use.field}"


def run_lens_layer(client: Elasticsearch, index: str, obj: dict[str, Any]) -> dict[str, int]:
    """The layer's buckets as Lens asks for them, flattened to `key|key -> count`."""
    (layer,) = lens_layers(obj).values()
    buckets = [layer["columns"][cid] for cid in layer["columnOrder"]
               if layer["columns"][cid]["isBucketed"]]
    aggs: dict[str, Any] = {}
    inner = aggs
    for depth, column in enumerate(buckets):
        if column["operationType"] == "terms":
            agg = {"terms": {"field": column["sourceField"], "size": column["params"]["size"],
                             "order": {"_count": "desc"}}}
        else:
            agg = {"date_histogram": {"field": column["sourceField"], "calendar_interval": "year"}}
        inner[f"b{depth}"] = agg
        inner = agg.setdefault("aggs", {})
    query = obj["attributes"]["state"]["query"]["query"]
    response = client.search(index=index, size=0, aggs=aggs, query=(
        {"query_string": {"query": query, "analyze_wildcard": True}} if query
        else {"match_all": {}}))
    counts: dict[str, int] = {}

    def flatten(node: Mapping[str, Any], depth: int, prefix: str) -> None:
        for bucket in node[f"b{depth}"]["buckets"]:
            key = str(bucket.get("key_as_string", bucket["key"]))
            if buckets[depth]["operationType"] == "date_histogram":
                key = key[:4]  # the year
            key = prefix + key
            if depth + 1 < len(buckets):
                flatten(bucket, depth + 1, key + "|")
            else:
                counts[key] = bucket["doc_count"]

    flatten(response["aggregations"], 0, "")
    return counts


@pytest.mark.es
def test_lens_charts_count_what_their_titles_say(
        es_client: Elasticsearch, indexed: str, objects: list[dict[str, Any]]) -> None:
    claims = run_lens_layer(es_client, indexed, by_title(objects, "Claims by country and type"))
    assert claims == {"russia:mercenaries:asserted": 1, "russia:mercenaries:denied": 1,
                      "russia:troops:asserted": 1, "russia:weapons:asserted": 1,
                      "turkey:troops:asserted": 1, "turkey:weapons:asserted": 1}
    outlets = run_lens_layer(es_client, indexed, by_title(objects, "Top outlets"))
    assert outlets == {"Wire": 4, "Desk": 1, "Agency": 1, "Culture": 1}  # copies count here
    actors = run_lens_layer(es_client, indexed, by_title(objects, "Stories over time by actor"))
    assert actors["wagner_group|2020"] == 1  # the copy is not a second story
    assert actors["africa_corps|2024"] == 1 and actors["wagner_group|2023"] == 1


# --- the import script against a stand-in for Kibana ---------------------------------------


def load_import_script() -> ModuleType:
    path = KIBANA_DIR / "import_saved_objects.py"
    spec = importlib.util.spec_from_file_location("import_saved_objects", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


importer = load_import_script()


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class KibanaStub:
    """Kibana's import endpoint on 127.0.0.1: records each request, answers as told."""

    status: int = 200
    answer: dict[str, Any] = field(default_factory=lambda: {
        "success": True, "successCount": 10, "successResults": [], "warnings": []})
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> KibanaStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                stub.received.append(Received(
                    "POST", parts.path, parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()}, body))
                payload = json.dumps(stub.answer).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"


def multipart_files(request: Received) -> dict[str, tuple[str | None, bytes]]:
    """Form field name -> (filename, content) of a multipart/form-data body."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    assert message.is_multipart()
    return {part.get_param("name", header="content-disposition"):
            (part.get_filename(), part.get_payload(decode=True))
            for part in message.iter_parts()}


def run_script(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(KIBANA_DIR / "import_saved_objects.py"), *args],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_import_posts_the_file_to_kibanas_import_api_with_overwrite_and_auth(
        capsys: pytest.CaptureFixture) -> None:
    with KibanaStub() as kibana:
        code = importer.main([], environ={"KIBANA_URL": kibana.url + "/",
                                          "KIBANA_USERNAME": "analyst",
                                          "KIBANA_PASSWORD": "s3cret"})
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.splitlines() == [f"imported 10 saved objects from saved_objects.ndjson into "
                                f"{kibana.url}/ (space default)"]
    (request,) = kibana.received
    assert (request.method, request.path) == ("POST", "/api/saved_objects/_import")
    assert request.query == {"overwrite": ["true"]}
    assert request.headers["kbn-xsrf"] == "true"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        b"analyst:s3cret").decode()
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert multipart_files(request) == {"file": ("saved_objects.ndjson", NDJSON.read_bytes())}


def test_import_into_a_space_with_an_api_key() -> None:
    with KibanaStub() as kibana:
        settings = importer.KibanaSettings.from_flags(
            environ={"KIBANA_API_KEY": "from-env"}, url=kibana.url, space="analysts",
            api_key="a2V5OnZhbHVl")
        result = importer.import_saved_objects(settings, NDJSON)
    assert result == importer.ImportResult(success_count=10)
    (request,) = kibana.received
    assert request.path == "/s/analysts/api/saved_objects/_import"
    assert request.headers["authorization"] == "ApiKey a2V5OnZhbHVl"


def test_a_refused_import_exits_non_zero_with_one_line_listing_the_errors() -> None:
    refused = {"success": False, "successCount": 8, "warnings": [], "errors": [
        {"id": "libya-watch-dashboard", "type": "dashboard", "meta": {"title": "libya-watch"},
         "error": {"type": "missing_references",
                   "references": [{"type": "lens", "id": "libya-watch-lens-top-outlets"}]}},
        {"id": "libya-watch-search-denials", "type": "search",
         "error": {"type": "unknown", "message": "Invalid\nfilter", "statusCode": 400}}]}
    with KibanaStub(answer=refused) as kibana:
        done = run_script("--kibana", kibana.url, "--username", "analyst", "--password", "pw")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"import_saved_objects: error: Kibana at {kibana.url}/api/saved_objects/_import "
        f"imported 8 objects and refused 2: dashboard libya-watch-dashboard "
        f"(missing_references: missing lens libya-watch-lens-top-outlets); "
        f"search libya-watch-search-denials (unknown: Invalid filter)"]
    assert len(kibana.received) == 1


def test_an_error_status_exits_non_zero_with_kibanas_message() -> None:
    unauthorized = {"statusCode": 401, "error": "Unauthorized",
                    "message": "[security_exception]: unable to authenticate user"}
    with KibanaStub(status=401, answer=unauthorized) as kibana:
        done = run_script(env={"KIBANA_URL": kibana.url, "KIBANA_API_KEY": "bad"})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"import_saved_objects: error: Kibana answered 401 Unauthorized at "
        f"{kibana.url}/api/saved_objects/_import: [security_exception]: unable to "
        f"authenticate user"]


def test_an_unreachable_kibana_exits_3_with_one_line() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run_script("--kibana", f"http://user:pw@127.0.0.1:{port}")
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"import_saved_objects: error: cannot reach Kibana at "
                           f"http://127.0.0.1:{port}/api/saved_objects/_import: ConnectError")
    assert "pw" not in line


def test_tls_is_verified_against_the_given_ca_certs(tmp_path: Path) -> None:
    server_context, ca_file = server_tls(tmp_path)
    with KibanaStub(tls=server_context) as kibana:
        trusted = run_script("--kibana", kibana.url, "--ca-certs", str(ca_file))
        untrusted = run_script("--kibana", kibana.url)
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.startswith("imported 10 saved objects")
    assert untrusted.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert len(untrusted.stderr.splitlines()) == 1 and len(kibana.received) == 1


@pytest.mark.parametrize("args, env, message", [
    ([], {}, "Kibana URL: give --kibana or set KIBANA_URL"),
    (["--kibana", "kibana:5601"], {}, "Kibana URL: expected http(s)://host[:port]"),
    (["--kibana", "http://k", "--api-key", "k"], {"KIBANA_USERNAME": "u", "KIBANA_PASSWORD": "p"},
     "give either an API key or a username and password"),
    (["--kibana", "http://k", "--space", "My Space"], {}, "'My Space' is not a space id"),
    (["--kibana", "http://k", "--ca-certs", "/nonexistent/ca.pem"], {}, "no such file"),
    (["--kibana", "http://k", "--ca-certs", str(ROOT / "README.md")], {}, "cannot load"),
    (["--kibana", "http://k", "--file", str(ROOT / "README.md")], {}, "only imports files named"),
])
def test_bad_flags_exit_2_with_one_line_before_any_request(
        args: list[str], env: dict[str, str], message: str) -> None:
    done = run_script(*args, env=env)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("import_saved_objects: error: ") and message in line
