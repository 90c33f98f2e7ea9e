"""`libya-watch run` end to end: real feeds over HTTP, the Beam pipeline, the real Elasticsearch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from connectors import es_local
from pipeline.cli import main
from tests.feedfactory import atom, rss
from tests.feedserver import FeedServer, Reply, Request

pytestmark = pytest.mark.es

LIBYA_ITEMS = [
    {"title": "Wagner has up to 1,200 people deployed in Libya, UN report says",
     "link": "http://wire.example/2020/05/06/wagner-libya?utm_source=rss",
     "published": "2020-05-06T17:05:00Z",
     "body": "<p>The Russian private military group Wagner has up to 1,200 people deployed in "
             "Libya to support Khalifa Haftar, according to a confidential UN report.</p>"},
    {"title": "Turkey sends drones and advisers to the GNA in Tripoli",
     "link": "http://wire.example/2020/05/20/turkey-gna",
     "published": "2020-05-20T11:00:00Z",
     "body": "<p>Turkey is supplying the Government of National Accord in Tripoli, Libya, with "
             "drones, air defences and advisers, officials in Ankara said.</p>"},
    {"title": "Egypt and the UAE back Haftar's Libyan National Army",
     "link": "http://wire.example/2020/06/09/egypt-uae-haftar",
     "published": "2020-06-09T07:20:00Z",
     "body": "<p>Egypt and the United Arab Emirates have lent support to Haftar's forces in "
             "eastern Libya, diplomats in Cairo said.</p>"},
]
OFF_TOPIC = {"title": "Wagner fighters deploy to central Mali",
             "link": "http://wire.example/2022/01/12/wagner-mali",
             "published": "2022-01-12T08:15:00Z",
             "body": "<p>Russian contractors from the Wagner Group deployed to central Mali, "
                     "residents in Bamako said.</p>"}
# The first Libya report again, under another URL (same text) and in an Atom feed.
COPY = {**LIBYA_ITEMS[0], "link": "http://other.example/wagner-copy", "title": "Wagner in Libya (copy)"}


def _conditional(body: bytes, etag: str):
    """A feed route that answers 304 when the client sends back our ETag."""
    def reply(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(status=304, headers={"ETag": etag})
        return Reply(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})
    return reply


def _write_feeds(tmp_path: Path, *urls: str) -> Path:
    path = tmp_path / "feeds.yaml"
    lines = ["settings:", "  timeout: 10", "  retries: 0", "feeds:"]
    lines += [f"  - url: {url}\n    name: Feed {i}" for i, url in enumerate(urls)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(feeds: Path, url: str, alias: str, tmp_path: Path, name: str) -> tuple[int, dict]:
    summary_path = tmp_path / f"{name}.json"
    code = main(["run", "--feeds", str(feeds), "--es", url, "--index", alias,
                 "--summary-json", str(summary_path)])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return code, summary


def _ids(client: Elasticsearch, alias: str) -> list[str]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, size=100, source=False)["hits"]["hits"]
    return sorted(hit["_id"] for hit in hits)


@pytest.fixture
def served_feeds(tmp_path: Path):
    with FeedServer() as server:
        wire = server.route("/wire.xml", _conditional(rss(LIBYA_ITEMS + [OFF_TOPIC]), '"wire-1"'))
        other = server.route("/other.atom", _conditional(atom([COPY]), '"other-1"'))
        yield server, _write_feeds(tmp_path, wire, other)


def test_run_indexes_then_a_second_run_gets_304_and_indexes_nothing(
        served_feeds, es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path) -> None:
    server, feeds = served_feeds
    code, first = _run(feeds, es_server.url, es_alias, tmp_path, "first")
    assert code == 0
    assert first["feeds"]["ok"] == 2 and first["feeds"]["failed"] == 0
    assert first["entries_seen"] == 5
    assert first["irrelevant"] == 1
    assert first["duplicates"]["in_run"] == 1
    assert first["indexed"] == 3
    ids = _ids(es_client, es_alias)
    assert len(ids) == 3
    source = es_client.get(index=es_alias, id=ids[0])["_source"]
    assert source["run_id"] == first["run_id"]

    code, second = _run(feeds, es_server.url, es_alias, tmp_path, "second")
    assert code == 0
    assert second["feeds"]["not_modified"] == 2
    assert second["entries_seen"] == 0 and second["indexed"] == 0
    assert _ids(es_client, es_alias) == ids
    for path in ("/wire.xml", "/other.atom"):
        last = server.requests(path)[-1]
        assert last.headers.get("if-none-match"), "the second run must send the stored validator"


def test_canonical_url_and_fields_of_an_indexed_document(
        served_feeds, es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path) -> None:
    _, feeds = served_feeds
    assert _run(feeds, es_server.url, es_alias, tmp_path, "run")[0] == 0
    es_client.indices.refresh(index=es_alias)
    hits = es_client.search(index=es_alias, query={"term": {"url": "http://wire.example/2020/05/06/wagner-libya"}})
    doc = hits["hits"]["hits"][0]["_source"]
    assert doc["published"] == "2020-05-06T17:05:00Z"
    assert doc["outlet"] == "Feed 0"
    assert doc["relevance"]["kept"] is True and doc["relevance"]["score"] > 0
    assert "<p>" not in doc["text"] and "Wagner" in doc["text"]


def test_feed_failure_is_reported_and_does_not_fail_the_run(
        es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path) -> None:
    with FeedServer() as server:
        good = server.route("/good.xml", Reply(body=rss(LIBYA_ITEMS[:1])))
        missing = server.url("/missing.xml")
        code, summary = _run(_write_feeds(tmp_path, good, missing), es_server.url, es_alias,
                             tmp_path, "run")
    assert code == 0
    assert summary["feeds"] == {**summary["feeds"], "ok": 1, "failed": 1}
    assert [f["url"] for f in summary["failed_feeds"]] == [missing]
    assert summary["failed_feeds"][0]["http_status"] == 404
    assert summary["indexed"] == 1


def test_elasticsearch_down_before_the_sink_fails_the_run_and_loses_nothing(
        es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    stopped = []

    def stop_elasticsearch_then_serve(request: Request) -> Reply:
        if not stopped:
            es_local.stop()
            stopped.append(True)
        return Reply(body=rss(LIBYA_ITEMS), headers={"ETag": '"v1"'})

    with FeedServer() as server:
        feeds = _write_feeds(tmp_path, server.route("/wire.xml", stop_elasticsearch_then_serve))
        try:
            code, _ = _run(feeds, es_server.url, es_alias, tmp_path, "outage")
        finally:
            es_local.start()
        err = capsys.readouterr().err.strip()
        assert code == 3
        assert len(err.splitlines()) == 1 and "Elasticsearch" in err

        code, summary = _run(feeds, es_server.url, es_alias, tmp_path, "after")
        assert code == 0
        assert summary["indexed"] == 3
        assert len(_ids(es_client, es_alias)) == 3
        # The validator was not advanced by the failed run, so the feed was downloaded again.
        assert "if-none-match" not in server.requests("/wire.xml")[-1].headers

        code, again = _run(feeds, es_server.url, es_alias, tmp_path, "again")
        assert code == 0 and again["indexed"] == 0
        assert len(_ids(es_client, es_alias)) == 3
