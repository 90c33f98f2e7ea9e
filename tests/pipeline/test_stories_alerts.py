"""Two passes against the real Elasticsearch: a wire copy joins yesterday's story and fires no alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from pipeline.cli import main
from tests.feedfactory import rss
from tests.feedserver import FeedServer, Reply
from tests.wirestory import COPY, ORIGINAL

pytestmark = pytest.mark.es


def _run(feeds: Path, url: str, alias: str, alerts: Path) -> None:
    assert main(["run", "--feeds", str(feeds), "--es", url, "--index", alias,
                 "--alerts-out", str(alerts)]) == 0


def _alert_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_copy_in_the_next_pass_joins_the_story_and_fires_no_alert(
        es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.jsonl"
    feeds = tmp_path / "feeds.yaml"
    with FeedServer() as server:
        url = server.route("/wire.xml", Reply(body=rss([ORIGINAL])),
                           Reply(body=rss([ORIGINAL, COPY])))
        feeds.write_text(f"feeds:\n  - url: {url}\n    name: Wire\n", encoding="utf-8")

        _run(feeds, es_server.url, es_alias, alerts)
        first = _alert_lines(alerts)
        assert {a["rule_id"] for a in first} == {"wagner-africa-corps-libya",
                                                 "new-foreign-involvement-claim"}
        story = first[0]["story_id"]
        assert all(a["story_id"] == story for a in first)
        for field in ("rule_id", "story_id", "doc_id", "title", "url", "published", "matched_at"):
            assert field in first[0]

        _run(feeds, es_server.url, es_alias, alerts)
        assert _alert_lines(alerts) == first, "the copy must not alert again"

    es_client.indices.refresh(index=es_alias)
    hits = es_client.search(index=es_alias, size=10)["hits"]["hits"]
    by_url = {hit["_source"]["url"]: hit for hit in hits}
    head = by_url[ORIGINAL["link"]]
    copy = by_url[COPY["link"]]["_source"]
    assert copy["story_id"] == head["_id"] and copy["duplicate_of"] == head["_id"]
    assert head["_source"]["story_size"] == 2
    assert head["_source"]["story_outlets"] == ["Wire"]
    one_per_story = es_client.search(
        index=es_alias, query={"query_string": {"query": "NOT _exists_:duplicate_of"}})
    assert one_per_story["hits"]["total"]["value"] == 1
