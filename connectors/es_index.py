"""The index layout Kibana reads: a template, rollover-ready indices and a write alias.

Articles go to the alias `<alias>`, which points at `<alias>-000001` (the
write index) and, after rollovers, its successors; the composable template
`<alias>` gives every `<alias>-0*` index (the numbered generations) the same
explicit mappings. The pattern is that narrow so that the aliases
`libya-watch` and `libya-watch-demo` can share a cluster: `<alias>-*` of
the one would overlap the other's, which Elasticsearch refuses.

Mappings use `dynamic: false`: a field the mapping does not know (say, one a
later stage adds to `Article.extra`) is kept in `_source` but not indexed,
so it can neither grow the mapping without bound nor make a document fail
(which `strict` would, sending whole articles to the dead letters). Later
versions add such fields to `mappings_for_document()`; `ensure_index` then
applies them to the existing indices.

Auxiliary indices (`<alias>-state`, `<alias>-deadletter`) get their own
exact-name templates, with a higher priority so that an operator's broader
template cannot put article mappings on them. In Kibana, use the alias
`<alias>` as the data view.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch

from connectors.errors import ConfigError, IndexingError
from connectors.es_client import describe_api_error, translating_errors

__all__ = [
    "IndexInfo",
    "ensure_index",
    "ensure_aux_index",
    "mappings_for_document",
    "mappings_for_deadletter",
    "has_analyzer",
    "validate_index_name",
    "first_index_name",
    "DEFAULT_INDEX_SETTINGS",
    "ARTICLE_TEMPLATE_PRIORITY",
    "AUX_TEMPLATE_PRIORITY",
]

DEFAULT_INDEX_SETTINGS: Mapping[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0}
# Exact-name auxiliary templates outrank the article template.
ARTICLE_TEMPLATE_PRIORITY = 200
AUX_TEMPLATE_PRIORITY = 300
LAYOUT_META_KEY = "libya_watch_layout"
ENGLISH_ANALYZER = "english"

_INVALID_NAME = re.compile(r'[\\/*?"<>|,# :A-Z]')


@dataclass(frozen=True)
class IndexInfo:
    """What `ensure_index` found or made."""

    alias: str
    write_index: str
    indices: tuple[str, ...]
    template: str
    created: bool
    template_updated: bool
    mappings_updated: tuple[str, ...]
    english: bool


def validate_index_name(name: str) -> str:
    """Elasticsearch's index-name rules, checked up front for a one-line error."""
    if (not name or name in (".", "..") or name[0] in "-_+" or _INVALID_NAME.search(name)
            or len(name.encode()) > 200):
        raise ConfigError(
            f"{name!r} is not a valid index or alias name (lowercase, no spaces or "
            f"\\/*?\"<>|,#:, not starting with -_+, at most 200 bytes)", where="index name")
    return name


def first_index_name(alias: str) -> str:
    """The first rollover-ready index behind `alias`."""
    return f"{alias}-000001"


def mappings_for_document(*, english: bool = False) -> dict[str, Any]:
    """The article mapping (a fresh copy, free to extend).

    `english` adds `title.english` / `text.english` sub-fields analysed with
    the `english` analyzer; only for clusters that have it.
    """
    english_field = {"english": {"type": "text", "analyzer": ENGLISH_ANALYZER}}
    title_fields: dict[str, Any] = {"keyword": {"type": "keyword", "ignore_above": 512}}
    text: dict[str, Any] = {"type": "text"}
    if english:
        title_fields.update(english_field)
        text["fields"] = copy.deepcopy(english_field)
    return {
        "dynamic": False,
        "properties": {
            "id": {"type": "keyword"},
            "url": {"type": "keyword"},
            "title": {"type": "text", "fields": title_fields},
            "text": text,
            "published": {"type": "date"},
            "published_source": {"type": "keyword"},
            "fetched_at": {"type": "date"},
            "indexed_at": {"type": "date"},
            "language": {"type": "keyword"},
            "language_source": {"type": "keyword"},
            "outlet": {"type": "keyword", "fields": {"text": {"type": "text"}}},
            "feed_url": {"type": "keyword"},
            "content_hash": {"type": "keyword"},
            "run_id": {"type": "keyword"},
            "relevance": {
                "type": "object",
                "properties": {
                    "score": {"type": "float"},
                    "kept": {"type": "boolean"},
                    "matched": {"type": "keyword"},
                },
            },
            # Actors: nested, so "actor X of type Y" stays one object in a query;
            # `actor_ids` is the flat list for Kibana filters and Lucene queries.
            "actors": {
                "type": "nested",
                "properties": {
                    "id": {"type": "keyword"},
                    "name": {"type": "keyword"},
                    "type": {"type": "keyword"},
                    "country": {"type": "keyword"},
                    "mentions": {"type": "integer"},
                    "surfaces": {"type": "keyword"},
                },
            },
            "actor_ids": {"type": "keyword"},
            # Claims: nested, so "country=russia and type=mercenaries and
            # polarity=asserted" must hold in one claim. Lucene query strings (what
            # Kibana users type) cannot reach nested fields, hence the flat
            # `claim_keys` ("russia:mercenaries:asserted") and per-field lists.
            "claims": {
                "type": "nested",
                "properties": {
                    "actor": {"type": "keyword"},
                    "country": {"type": "keyword"},
                    "type": {"type": "keyword"},
                    "polarity": {"type": "keyword"},
                    "beneficiary": {"type": "keyword"},
                    "source": {"type": "text", "fields": {"keyword": {"type": "keyword",
                                                                      "ignore_above": 256}}},
                    "sentence": {"type": "text"},
                    "confidence": {"type": "float"},
                },
            },
            "claim_keys": {"type": "keyword"},
            "claim_countries": {"type": "keyword"},
            "claim_types": {"type": "keyword"},
            "claim_polarities": {"type": "keyword"},
            # Stories: syndicated copies share `story_id` (the first document's id);
            # `NOT _exists_:duplicate_of` keeps one document per story. The first
            # document counts the story's outlets and documents.
            "story_id": {"type": "keyword"},
            "duplicate_of": {"type": "keyword"},
            "story_outlets": {"type": "keyword"},
            "story_size": {"type": "integer"},
            # MinHash band keys find a later copy's story; the signature itself is
            # only read back from _source, never searched.
            "minhash_bands": {"type": "keyword"},
            "minhash": {"type": "object", "enabled": False},
        },
    }


def mappings_for_deadletter() -> dict[str, Any]:
    """Mapping for `<alias>-deadletter`: one document per `DeadLetter`, plus when and which run."""
    return {
        "dynamic": False,
        "properties": {
            "stage": {"type": "keyword"},
            "key": {"type": "keyword", "ignore_above": 2048},
            "error": {"type": "text", "fields": {"keyword": {"type": "keyword",
                                                             "ignore_above": 1024}}},
            "feed_url": {"type": "keyword"},
            "run_id": {"type": "keyword"},
            "failed_at": {"type": "date"},
        },
    }


def has_analyzer(client: Elasticsearch, analyzer: str = ENGLISH_ANALYZER) -> bool:
    """Whether the cluster knows this built-in analyzer (minimal distributions lack `english`).

    A 403 (no right to call `_analyze`) counts as "no": the mapping then
    simply goes without the extra sub-fields.
    """
    with translating_errors(f"checking for the '{analyzer}' analyzer"):
        try:
            client.indices.analyze(analyzer=analyzer, text="libya")
        except BadRequestError:
            return False
        except ApiError as exc:
            if exc.meta.status == 403:
                return False
            raise
    return True


def _layout_hash(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _with_meta(mappings: Mapping[str, Any], layout: str) -> dict[str, Any]:
    result = copy.deepcopy(dict(mappings))
    result["_meta"] = {**result.get("_meta", {}), LAYOUT_META_KEY: layout}
    return result


def _put_template(client: Elasticsearch, name: str, patterns: list[str], priority: int,
                  settings: Mapping[str, Any], mappings: Mapping[str, Any]) -> tuple[bool, str]:
    """Puts the template unless one with the same layout is there; returns (updated, layout)."""
    layout = _layout_hash(patterns, priority, settings, mappings)
    with translating_errors(f"reading index template '{name}'"):
        try:
            found = client.indices.get_index_template(name=name)["index_templates"]
        except ApiError as exc:
            if exc.meta.status != 404:
                raise
            found = []
    if found and (found[0]["index_template"].get("_meta") or {}).get(LAYOUT_META_KEY) == layout:
        return False, layout
    with _writing(f"putting index template '{name}'"):
        client.indices.put_index_template(
            name=name, index_patterns=patterns, priority=priority,
            template={"settings": dict(settings), "mappings": _with_meta(mappings, layout)},
            meta={LAYOUT_META_KEY: layout, "managed_by": "libya-watch"},
        )
    return True, layout


@contextmanager
def _writing(what: str) -> Iterator[None]:
    """Like `translating_errors`, but a write the cluster refuses is an `IndexingError`."""
    with translating_errors(what):
        try:
            yield
        except ApiError as exc:
            if exc.meta.status in (400, 409):
                raise IndexingError(f"{what}: {describe_api_error(exc)}") from exc
            raise


def _update_mappings(client: Elasticsearch, indices: list[str], mappings: Mapping[str, Any],
                     layout: str) -> tuple[str, ...]:
    """Applies the mappings to indices whose layout differs; additive changes only."""
    if not indices:
        return ()
    with translating_errors(f"reading the mappings of {', '.join(indices)}"):
        current = client.indices.get_mapping(index=",".join(indices))
    updated = []
    for index in indices:
        meta = current.get(index, {}).get("mappings", {}).get("_meta") or {}
        if meta.get(LAYOUT_META_KEY) == layout:
            continue
        body = _with_meta(mappings, layout)
        with _writing(f"updating the mapping of index '{index}'"):
            client.indices.put_mapping(index=index, properties=body["properties"],
                                       dynamic=body.get("dynamic"), meta=body["_meta"])
        updated.append(index)
    return tuple(updated)


def _alias_members(client: Elasticsearch, alias: str) -> dict[str, Any]:
    with translating_errors(f"reading alias '{alias}'"):
        try:
            return dict(client.indices.get_alias(name=alias).body)
        except ApiError as exc:
            if exc.meta.status == 404:
                return {}
            raise


def ensure_index(client: Elasticsearch, alias: str, *,
                 settings: Mapping[str, Any] | None = None) -> IndexInfo:
    """Makes `<alias>` ready for writing; safe to call on every start.

    Puts the template (when its layout changed), creates `<alias>-000001`
    as the write index when the alias is missing, and otherwise adds new
    fields to the indices behind the alias. A second call changes nothing.
    """
    validate_index_name(alias)
    english = has_analyzer(client, ENGLISH_ANALYZER)
    index_settings = {**DEFAULT_INDEX_SETTINGS, **(settings or {})}
    mappings = mappings_for_document(english=english)
    template_updated, layout = _put_template(client, alias, [f"{alias}-0*"],
                                             ARTICLE_TEMPLATE_PRIORITY, index_settings, mappings)

    created = False
    members = _alias_members(client, alias)
    if not members:
        with translating_errors(f"checking for an index named '{alias}'"):
            clash = client.indices.exists(index=alias)
        if clash:
            raise IndexingError(
                f"'{alias}' is an index, not an alias: reindex it into "
                f"'{first_index_name(alias)}' or choose another alias")
        created = _create_write_index(client, alias)
        members = _alias_members(client, alias)

    indices = sorted(members)
    write = [name for name, body in members.items()
             if body.get("aliases", {}).get(alias, {}).get("is_write_index")]
    if not write and len(indices) == 1:
        write = indices
    if len(write) != 1:
        raise IndexingError(f"alias '{alias}' has no single write index (indices: "
                            f"{', '.join(indices)}); mark one with is_write_index")
    mappings_updated = () if created else _update_mappings(client, indices, mappings, layout)
    return IndexInfo(alias=alias, write_index=write[0], indices=tuple(indices), template=alias,
                     created=created, template_updated=template_updated,
                     mappings_updated=mappings_updated, english=english)


def _create_write_index(client: Elasticsearch, alias: str) -> bool:
    """Creates `<alias>-000001` holding the write alias; tolerates a concurrent creator."""
    first = first_index_name(alias)
    with _writing(f"creating index '{first}'"):
        try:
            client.indices.create(index=first, aliases={alias: {"is_write_index": True}})
            return True
        except BadRequestError as exc:
            if _error_type(exc) != "resource_already_exists_exception":
                raise
    # The index exists (another process won the race, or an earlier run was cut off).
    if not _alias_members(client, alias):
        with _writing(f"adding alias '{alias}' to '{first}'"):
            client.indices.put_alias(index=first, name=alias, is_write_index=True)
    return False


def _error_type(exc: ApiError) -> str | None:
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def ensure_aux_index(client: Elasticsearch, name: str, mappings: Mapping[str, Any], *,
                     settings: Mapping[str, Any] | None = None) -> bool:
    """Makes a small auxiliary index (feed state, dead letters); True when created now.

    Its exact-name template outranks the article template, and existing
    indices get new fields the same additive way as articles.
    """
    validate_index_name(name)
    index_settings = {**DEFAULT_INDEX_SETTINGS, **(settings or {})}
    _, layout = _put_template(client, name, [name], AUX_TEMPLATE_PRIORITY, index_settings,
                              mappings)
    with translating_errors(f"checking for index '{name}'"):
        exists = client.indices.exists(index=name)
    created = False
    if not exists:
        with _writing(f"creating index '{name}'"):
            try:
                client.indices.create(index=name)
                created = True
            except BadRequestError as exc:
                if _error_type(exc) != "resource_already_exists_exception":
                    raise
    if not created:
        _update_mappings(client, [name], mappings, layout)
    _wait_until_usable(client, name)
    return created


def _wait_until_usable(client: Elasticsearch, name: str) -> None:
    """Waits for the index's primary shard: an index another worker created a moment ago
    exists before it can answer reads ("no shard available")."""
    with translating_errors(f"waiting for index '{name}'"):
        client.cluster.health(index=name, wait_for_status="yellow", timeout="30s")
