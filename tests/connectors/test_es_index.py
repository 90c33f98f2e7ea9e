"""The article index layout, against the real local Elasticsearch."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from connectors.errors import ConfigError, IndexingError
from connectors.es_index import (
    ensure_aux_index,
    ensure_index,
    has_analyzer,
    mappings_for_deadletter,
    mappings_for_document,
)


def _mapping(client: Elasticsearch, index: str) -> dict:
    return client.indices.get_mapping(index=index)[index]["mappings"]


def test_english_sub_fields_only_when_asked() -> None:
    plain = mappings_for_document()["properties"]
    english = mappings_for_document(english=True)["properties"]
    assert "english" not in plain["title"]["fields"] and "fields" not in plain["text"]
    assert english["title"]["fields"]["english"] == {"type": "text", "analyzer": "english"}
    assert english["text"]["fields"]["english"] == {"type": "text", "analyzer": "english"}


def test_mappings_are_fresh_copies() -> None:
    mappings_for_document()["properties"]["stories"] = {"type": "keyword"}
    assert "stories" not in mappings_for_document()["properties"]


@pytest.mark.parametrize("name", ["Libya", "lw news", "-lw", "lw*", "lw:x", ""])
def test_invalid_alias_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid index or alias name"):
        ensure_index(None, name)  # type: ignore[arg-type] - fails before any request


@pytest.mark.es
def test_creates_template_and_write_alias(es_client: Elasticsearch, es_alias: str) -> None:
    info = ensure_index(es_client, es_alias)
    assert info.created and info.template_updated
    assert info.write_index == f"{es_alias}-000001"
    assert info.indices == (f"{es_alias}-000001",)
    aliases = es_client.indices.get_alias(name=es_alias).body
    assert aliases == {f"{es_alias}-000001": {"aliases": {es_alias: {"is_write_index": True}}}}
    template = es_client.indices.get_index_template(name=es_alias)["index_templates"][0]
    assert template["index_template"]["index_patterns"] == [f"{es_alias}-0*"]
    settings = es_client.indices.get_settings(index=info.write_index)[info.write_index]
    assert settings["settings"]["index"]["number_of_shards"] == "1"
    assert settings["settings"]["index"]["number_of_replicas"] == "0"


@pytest.mark.es
def test_mapping_types(es_client: Elasticsearch, es_alias: str) -> None:
    info = ensure_index(es_client, es_alias)
    mapping = _mapping(es_client, info.write_index)
    props = mapping["properties"]
    assert mapping["dynamic"] == "false"
    assert props["title"]["type"] == "text"
    assert props["title"]["fields"]["keyword"] == {"type": "keyword", "ignore_above": 512}
    assert props["published"]["type"] == "date"
    assert props["fetched_at"]["type"] == "date" and props["indexed_at"]["type"] == "date"
    assert props["outlet"]["type"] == "keyword"
    assert props["outlet"]["fields"]["text"]["type"] == "text"
    assert props["relevance"]["properties"] == {"kept": {"type": "boolean"},
                                                "matched": {"type": "keyword"},
                                                "score": {"type": "float"}}
    for name in ("id", "url", "language", "feed_url", "content_hash", "run_id"):
        assert props[name]["type"] == "keyword", name


@pytest.mark.es
def test_without_english_analyzer_the_layout_falls_back(es_client: Elasticsearch,
                                                        es_alias: str) -> None:
    # This distribution has no analysis-common module; `standard` proves the probe can say yes.
    assert has_analyzer(es_client, "standard") is True
    assert has_analyzer(es_client, "english") is False
    info = ensure_index(es_client, es_alias)
    props = _mapping(es_client, info.write_index)["properties"]
    assert info.english is False
    assert "english" not in props["title"]["fields"]
    assert "fields" not in props["text"]


@pytest.mark.es
def test_second_call_changes_nothing(es_client: Elasticsearch, es_alias: str) -> None:
    first = ensure_index(es_client, es_alias)
    template_before = es_client.indices.get_index_template(name=es_alias).body
    mapping_before = _mapping(es_client, first.write_index)
    second = ensure_index(es_client, es_alias)
    assert (second.created, second.template_updated, second.mappings_updated) == (False, False, ())
    assert second.write_index == first.write_index
    assert es_client.indices.get_index_template(name=es_alias).body == template_before
    assert _mapping(es_client, first.write_index) == mapping_before


@pytest.mark.es
def test_unknown_fields_are_kept_but_not_mapped(es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    es_client.index(index=es_alias, id="a1", refresh=True,
                    document={"id": "a1", "title": "Wagner in Jufra", "future_field": ["wagner"]})
    assert es_client.get(index=es_alias, id="a1")["_source"]["future_field"] == ["wagner"]
    info = ensure_index(es_client, es_alias)
    assert "future_field" not in _mapping(es_client, info.write_index)["properties"]


@pytest.mark.es
def test_existing_indices_gain_new_fields(es_client: Elasticsearch, es_alias: str) -> None:
    first = f"{es_alias}-000001"
    es_client.indices.create(index=first, mappings={"properties": {"id": {"type": "keyword"}}},
                             aliases={es_alias: {"is_write_index": True}})
    info = ensure_index(es_client, es_alias)
    assert not info.created and info.mappings_updated == (first,)
    props = _mapping(es_client, first)["properties"]
    assert props["published"]["type"] == "date"
    assert props["title"]["fields"]["keyword"]["type"] == "keyword"


@pytest.mark.es
def test_incompatible_existing_mapping_is_a_one_line_indexing_error(
        es_client: Elasticsearch, es_alias: str) -> None:
    first = f"{es_alias}-000001"
    es_client.indices.create(index=first,
                             mappings={"properties": {"published": {"type": "keyword"}}},
                             aliases={es_alias: {"is_write_index": True}})
    with pytest.raises(IndexingError) as caught:
        ensure_index(es_client, es_alias)
    message = str(caught.value)
    assert message.startswith(f"updating the mapping of index '{first}': 400 ")
    assert "published" in message and "\n" not in message


@pytest.mark.es
def test_an_index_squatting_the_alias_name_is_refused(es_client: Elasticsearch,
                                                      es_alias: str) -> None:
    es_client.indices.create(index=es_alias)
    with pytest.raises(IndexingError, match=f"'{es_alias}' is an index, not an alias"):
        ensure_index(es_client, es_alias)


@pytest.mark.es
def test_settings_are_overridable(es_client: Elasticsearch, es_alias: str) -> None:
    info = ensure_index(es_client, es_alias, settings={"refresh_interval": "5s"})
    index = es_client.indices.get_settings(index=info.write_index)[info.write_index]
    assert index["settings"]["index"]["refresh_interval"] == "5s"
    assert index["settings"]["index"]["number_of_replicas"] == "0"


@pytest.mark.es
def test_aux_index_keeps_its_own_mapping(es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    name = f"{es_alias}-deadletter"
    assert ensure_aux_index(es_client, name, mappings_for_deadletter()) is True
    assert ensure_aux_index(es_client, name, mappings_for_deadletter()) is False
    props = _mapping(es_client, name)["properties"]
    assert set(props) == set(mappings_for_deadletter()["properties"])
    assert "title" not in props
    assert not es_client.indices.exists_alias(name=es_alias, index=name)
