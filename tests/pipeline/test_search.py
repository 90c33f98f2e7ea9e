"""`libya-watch search` over what a real pass indexed: Lucene queries, filters, copies, errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from elasticsearch import Elasticsearch

from connectors.errors import ConfigError
from pipeline.cli import main
from pipeline.launch import run_pass
from pipeline.search import SearchRequest, parse_since, search_body, search_documents
from tests.conftest import delete_everything_named
from tests.feedfactory import rss
from tests.feedserver import FeedServer, Reply

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat().replace("+00:00", "Z")


ITEMS = {
    # A wire report three hours old, and an hour ago a rewrite of it by another desk.
    "original": {
        "title": "Wagner has up to 1,200 fighters in Libya, confidential UN report says",
        "link": "http://wire.example/wagner-libya", "published": _ago(hours=3),
        "body": "UNITED NATIONS (Reuters) - The Russian private military group Wagner has up to "
                "1,200 people deployed in Libya to strengthen the forces of eastern commander "
                "Khalifa Haftar, according to a confidential U.N. report seen by Reuters on "
                "Wednesday. The report by independent sanctions monitors said Wagner had deployed "
                "snipers and specialist military teams to the front lines around Tripoli since "
                "late 2019. The Kremlin has repeatedly denied that Russia has forces in Libya, "
                "and said any Russians fighting there do not represent the state or receive its "
                "money."},
    "copy": {
        "title": "UN monitors: 1,200 Wagner mercenaries fight for Haftar",
        "link": "http://desk.example/wagner-haftar-un-report", "published": _ago(hours=1),
        "body": "NEW YORK - The Russian private military group Wagner has up to 1,200 people "
                "deployed in Libya to strengthen the forces of eastern commander Khalifa Haftar, "
                "according to a confidential UN report seen by Reuters. The report by independent "
                "sanctions monitors said Wagner had deployed snipers and specialist military "
                "teams to the front lines around Tripoli since late 2019. The Kremlin has "
                "repeatedly denied that Russia has forces in Libya."},
    "denial": {
        "title": "Kremlin denies Russian mercenaries fight in Libya",
        "link": "http://wire.example/kremlin-denial", "published": _ago(days=3),
        "body": "The Kremlin denied that Russian mercenaries are fighting in Libya, calling the "
                "reports about Haftar's backers false."},
    "mixed": {
        "title": "Russian jets and Sudanese fighters bolster Haftar in Libya",
        "link": "http://wire.example/jets-and-fighters", "published": "2020-05-26T12:00:00Z",
        "body": "Russia sent fighter jets to Haftar's forces in Libya, the U.S. military said. "
                "Separately, Sudanese mercenaries are fighting for the Libyan National Army, a UN "
                "panel of experts said."},
    "turkey": {
        "title": "Turkey sends drones and advisers to the GNA",
        "link": "http://wire.example/turkey-gna", "published": "2020-05-20T11:00:00Z",
        "body": "Turkey has sent armed drones and military advisers to the Government of "
                "National Accord in Tripoli, Libya, officials in Ankara said."},
}


@dataclass
class Indexed:
    alias: str
    ids: dict[str, str]  # item name -> document id
    sources: dict[str, dict]  # item name -> stored document


@pytest.fixture(scope="module")
def indexed(es_server, es_client: Elasticsearch,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """One real pass over one feed of the items, into an alias of this module."""
    alias = f"lw-test-{uuid.uuid4().hex[:8]}"
    feeds = tmp_path_factory.mktemp("search") / "feeds.yaml"
    try:
        with FeedServer() as server:
            url = server.route("/wire.xml", Reply(body=rss(ITEMS.values())))
            feeds.write_text(f"feeds:\n  - url: {url}\n    name: Wire\n", encoding="utf-8")
            summary = run_pass(feeds, es_server.url, alias, [])
        assert summary.count("indexed") == len(ITEMS)
        es_client.indices.refresh(index=alias)
        hits = es_client.search(index=alias, size=20)["hits"]["hits"]
        by_url = {hit["_source"]["url"]: hit for hit in hits}
        yield Indexed(alias=alias,
                      ids={name: by_url[item["link"]]["_id"] for name, item in ITEMS.items()},
                      sources={name: by_url[item["link"]]["_source"]
                               for name, item in ITEMS.items()})
    finally:
        delete_everything_named(es_client, alias)


def _search(client: Elasticsearch, indexed: Indexed, **request) -> list[str]:
    """The item names of the hits, in the order shown."""
    names = {doc_id: name for name, doc_id in indexed.ids.items()}
    result = search_documents(client, indexed.alias, SearchRequest(**request))
    return [names[hit.id] for hit in result.hits]


def _heads_with(indexed: Indexed, test) -> set[str]:
    return {name for name, source in indexed.sources.items()
            if not source.get("duplicate_of") and test(source)}


# -- against the index ------------------------------------------------------------------------


@pytest.mark.es
def test_story_heads_only_newest_first(es_client: Elasticsearch, indexed: Indexed) -> None:
    assert indexed.sources["copy"]["duplicate_of"] == indexed.ids["original"]
    assert _search(es_client, indexed) == ["original", "denial", "mixed", "turkey"]


@pytest.mark.es
def test_all_copies_shows_the_copy_too(es_client: Elasticsearch, indexed: Indexed) -> None:
    assert _search(es_client, indexed, all_copies=True) == \
        ["copy", "original", "denial", "mixed", "turkey"]


@pytest.mark.es
def test_words_must_all_match_unless_or_is_written(es_client: Elasticsearch,
                                                   indexed: Indexed) -> None:
    assert _search(es_client, indexed, query="kremlin mercenaries") == ["denial"]
    assert set(_search(es_client, indexed, query="kremlin OR mercenaries")) >= \
        {"original", "denial", "mixed"}
    assert _search(es_client, indexed, query='claim_keys:"turkey:weapons:asserted"') == ["turkey"]


@pytest.mark.es
def test_every_actor_given_must_be_tagged(es_client: Elasticsearch, indexed: Indexed) -> None:
    both = _search(es_client, indexed, actors=("wagner_group", "khalifa_haftar"))
    haftar = _search(es_client, indexed, actors=("khalifa_haftar",))
    assert set(both) == _heads_with(
        indexed, lambda s: {"wagner_group", "khalifa_haftar"} <= set(s.get("actor_ids", ())))
    assert both and set(both) < set(haftar)


@pytest.mark.es
def test_any_claim_type_given_may_match(es_client: Elasticsearch, indexed: Indexed) -> None:
    wanted = {"troops", "mercenaries"}
    found = _search(es_client, indexed, claim_types=tuple(sorted(wanted)))
    assert set(found) == _heads_with(indexed, lambda s: wanted & set(s.get("claim_types", ())))
    assert {"turkey", "original"} <= set(found)  # troops only, mercenaries only


@pytest.mark.es
def test_since_keeps_recent_publications(es_client: Elasticsearch, indexed: Indexed) -> None:
    assert _search(es_client, indexed, since="1d") == ["original"]
    assert _search(es_client, indexed, since="7d") == ["original", "denial"]
    assert _search(es_client, indexed, since="90m", all_copies=True) == ["copy"]


@pytest.mark.es
def test_text_view_has_a_header_and_one_block_per_hit(es_client: Elasticsearch,
                                                       indexed: Indexed) -> None:
    result = search_documents(es_client, indexed.alias, SearchRequest(size=2))
    assert result.total == 4 and len(result.hits) == 2
    text = result.to_text()
    assert text.splitlines()[0] == f"4 stories match (everything) in '{indexed.alias}'; " \
                                   "the 2 newest:"
    original = indexed.sources["original"]
    block = text.split("\n\n")[1]
    assert block.splitlines()[0] == f"{original['published'][:10]} " \
                                    f"{original['published'][11:16]}  Wire"
    assert ITEMS["original"]["title"] in block and ITEMS["original"]["link"] in block
    assert f"actors: {', '.join(original['actor_ids'])}" in block
    assert f"claims: {', '.join(original['claim_keys'])}" in block
    assert "story of 2 documents (Wire)" in block


@pytest.mark.es
def test_json_lines_carry_the_id_and_fields_without_text_or_minhash(
        es_client: Elasticsearch, indexed: Indexed) -> None:
    result = search_documents(es_client, indexed.alias, SearchRequest(all_copies=True))
    rows = [json.loads(line) for line in result.to_json_lines().splitlines()]
    assert [row["id"] for row in rows] == [hit.id for hit in result.hits]
    assert len(rows) == 5
    for row in rows:
        assert not {"text", "minhash", "minhash_bands"} & row.keys()
        assert {"title", "url", "published", "outlet", "actor_ids"} <= row.keys()


@pytest.mark.es
def test_an_invalid_lucene_query_is_a_config_error(es_client: Elasticsearch,
                                                   indexed: Indexed) -> None:
    with pytest.raises(ConfigError) as caught:
        search_documents(es_client, indexed.alias, SearchRequest(query="title:("))
    message = str(caught.value)
    assert message.startswith("query 'title:(': not valid Lucene query syntax")
    assert "column 7" in message and "\n" not in message


@pytest.mark.es
def test_unknown_actor_or_claim_type_is_refused_with_a_hint(es_client: Elasticsearch,
                                                            indexed: Indexed) -> None:
    with pytest.raises(ConfigError, match=r"--actor: unknown actor id 'wagner' \(did you mean "
                                          r"'wagner_group'\?\)"):
        search_documents(es_client, indexed.alias, SearchRequest(actors=("wagner",)))
    with pytest.raises(ConfigError, match="--claim-type: unknown claim type 'drones'"):
        search_documents(es_client, indexed.alias, SearchRequest(claim_types=("drones",)))


# -- the command ------------------------------------------------------------------------------


@pytest.mark.es
def test_search_command_prints_hits(es_server, indexed: Indexed,
                                    capsys: pytest.CaptureFixture) -> None:
    base = ["search", "--es", es_server.url, "--index", indexed.alias]
    assert main(base + ["wagner", "--actor", "khalifa_haftar", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 story matches (query 'wagner', actors khalifa_haftar, "
                          "published in the last 7d)")
    assert ITEMS["original"]["link"] in out and ITEMS["copy"]["link"] not in out

    assert main(base + ["--claim-type", "weapons", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["id"] for row in rows} == {indexed.ids[name] for name in _heads_with(
        indexed, lambda s: "weapons" in s.get("claim_types", ()))}


@pytest.mark.es
def test_search_command_bad_query_is_one_line_and_exit_2(es_server, indexed: Indexed,
                                                         capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "title:(", "--es", es_server.url, "--index", indexed.alias]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("libya-watch: error: query 'title:(': not valid Lucene query")


@pytest.mark.es
def test_search_command_bad_since_is_one_line_and_exit_2(es_server, indexed: Indexed,
                                                         capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "--since", "7 days", "--es", es_server.url,
                 "--index", indexed.alias]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--since" in lines[0] and "'7 days'" in lines[0]


@pytest.mark.es
def test_search_in_a_fresh_alias_says_nothing_is_indexed(es_server, es_alias: str,
                                                         capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "--es", es_server.url, "--index", es_alias]) == 0
    assert capsys.readouterr().out.strip() == \
        f"no index '{es_alias}' yet: nothing has been indexed there"


# -- pure --------------------------------------------------------------------------------------


@pytest.mark.parametrize("age, math", [("90m", "now-90m"), ("24h", "now-24h"), ("7d", "now-7d"),
                                       ("2w", "now-2w"), (" 07d ", "now-7d")])
def test_parse_since_accepts_minutes_hours_days_weeks(age: str, math: str) -> None:
    assert parse_since(age) == math


@pytest.mark.parametrize("age", ["", "7", "d", "0d", "7 days", "1M", "7D", "-7d", "1.5h",
                                 "1234567d"])
def test_parse_since_refuses_anything_else(age: str) -> None:
    with pytest.raises(ConfigError, match="--since: expected a positive number and a unit"):
        parse_since(age)


def test_a_request_with_a_bad_size_or_age_fails_on_creation() -> None:
    with pytest.raises(ConfigError, match="--size: must be between 1 and 10000, got 0"):
        SearchRequest(size=0)
    with pytest.raises(ConfigError, match="--since"):
        SearchRequest(since="yesterday")


def test_search_body_ands_the_words_and_drops_copies_unless_asked() -> None:
    body = search_body(SearchRequest(query="wagner haftar"))
    query_string = body["query"]["bool"]["filter"][0]["query_string"]
    assert query_string["default_operator"] == "AND"
    assert body["query"]["bool"]["must_not"] == [{"exists": {"field": "duplicate_of"}}]
    assert "must_not" not in search_body(SearchRequest(all_copies=True))["query"]["bool"]
    assert search_body(SearchRequest())["query"]["bool"]["filter"] == []
