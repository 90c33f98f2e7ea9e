"""Runs cut into slices, one pipeline each: sizes, packing, and the same index as one pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from connectors.errors import ConfigError
from pipeline.cli import main
from pipeline.slices import (DEFAULT_SLICE_FEEDS, DEFAULT_SLICE_MB, DISTRIBUTED_SLICE_FEEDS,
                             DISTRIBUTED_SLICE_MB, Slicing, archive_slices, chunks, slicing_for)
from pipeline.watch import WatchOptions, watch
from tests import wirestory
from tests.feedfactory import rss
from tests.feedserver import FeedServer, Reply
from tests.pipeline.test_run import LIBYA_ITEMS, OFF_TOPIC
from transforms.archive import ArchiveInput, ArchiveSlice, LineRange

# Stamped by the run, not derived from the input; and the member list a story's first
# document keeps (in _source only) once a copy from a later run or slice has joined it.
RUN_FIELDS = frozenset({"indexed_at", "fetched_at", "run_id", "story_members"})
# The same report under another URL, a day later: an exact duplicate by text.
TEXT_COPY = {**LIBYA_ITEMS[1], "link": "http://other.example/haftar-report",
             "published": "2020-05-21T11:00:00Z"}
# In published order, so a slice never holds an earlier report than the slices before it.
ITEMS = sorted([wirestory.ORIGINAL, wirestory.COPY, LIBYA_ITEMS[1], TEXT_COPY, LIBYA_ITEMS[2],
                OFF_TOPIC], key=lambda item: item["published"])


# --- sizes and packing (no Elasticsearch) -------------------------------------------------


def test_in_memory_runners_get_small_slices_and_distributed_ones_larger() -> None:
    local = Slicing(feeds=DEFAULT_SLICE_FEEDS, bytes=DEFAULT_SLICE_MB * 2**20)
    distributed = Slicing(feeds=DISTRIBUTED_SLICE_FEEDS, bytes=DISTRIBUTED_SLICE_MB * 2**20)
    assert slicing_for("FnApiRunner") == local
    assert slicing_for("DirectRunner") == local
    assert slicing_for("apache_beam.runners.direct.direct_runner.DirectRunner") == local
    assert slicing_for("FlinkRunner") == distributed
    assert slicing_for("DataflowRunner") == distributed
    assert local.feeds < distributed.feeds and local.bytes < distributed.bytes


def test_asked_sizes_win_over_the_runners_default() -> None:
    assert slicing_for("FnApiRunner", slice_feeds=0, slice_mb=0) == Slicing(0, 0)
    assert slicing_for("FlinkRunner", slice_feeds=500, slice_mb=1.5) == Slicing(500, 1572864)
    with pytest.raises(ConfigError, match="--slice-mb must be 0"):
        slicing_for("FnApiRunner", slice_mb=-1)


def test_chunks_keep_order_and_zero_means_all_at_once() -> None:
    assert chunks([1, 2, 3, 4, 5], 2) == [(1, 2), (3, 4), (5,)]
    assert chunks([1, 2, 3], 0) == [(1, 2, 3)]
    assert chunks([], 2) == []


def test_archive_files_are_packed_into_slices_of_about_the_size(tmp_path: Path) -> None:
    for name, size in (("a.xml", 40), ("b.xml", 70), ("c.xml", 30)):
        (tmp_path / name).write_bytes(b"x" * size)
    (tmp_path / "big.jsonl").write_bytes(b"y" * 250)
    archive = ArchiveInput(feed_patterns=(f"{tmp_path}/*.xml",),
                           jsonl_patterns=(f"{tmp_path}/*.jsonl",))
    big, xml = str(tmp_path / "big.jsonl"), lambda n: str(tmp_path / n)

    slices = archive_slices(archive, slice_bytes=100)

    assert slices == [
        ArchiveSlice(feed_files=(xml("a.xml"),)),  # 40, and 70 more would pass 100
        ArchiveSlice(feed_files=(xml("b.xml"), xml("c.xml"))),
        ArchiveSlice(jsonl_ranges=(LineRange(big, 0, 100),)),
        ArchiveSlice(jsonl_ranges=(LineRange(big, 100, 200),)),
        ArchiveSlice(jsonl_ranges=(LineRange(big, 200, 250),)),
    ]
    one = archive_slices(archive, slice_bytes=0, range_bytes=100)
    assert len(one) == 1 and len(one[0].feed_files) == 3 and len(one[0].jsonl_ranges) == 3


# --- on the real Elasticsearch ------------------------------------------------------------


@pytest.fixture
def two_aliases(es_alias: str) -> tuple[str, str]:
    """One pipeline's alias and the slices'; the prefix `es_alias` has them deleted afterwards."""
    return f"{es_alias}-whole", f"{es_alias}-sliced"


def _run(url: str, alias: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    summary_path = tmp_path / f"{alias}.json"
    assert main(["run", *args, "--es", url, "--index", alias,
                 "--summary-json", str(summary_path)]) == 0
    return json.loads(summary_path.read_text())


def _documents(client: Elasticsearch, alias: str) -> dict[str, dict]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, size=100)["hits"]["hits"]
    return {hit["_id"]: {k: v for k, v in hit["_source"].items() if k not in RUN_FIELDS}
            for hit in hits}


def _same_index(client: Elasticsearch, whole_alias: str, sliced_alias: str) -> dict[str, dict]:
    whole, sliced = _documents(client, whole_alias), _documents(client, sliced_alias)
    assert sorted(sliced) == sorted(whole)
    for doc_id, doc in whole.items():
        assert sliced[doc_id] == doc, doc_id
    return whole


@pytest.mark.es
def test_a_backfill_in_slices_indexes_what_one_pipeline_does(es_client, es_server, two_aliases,
                                                             tmp_path: Path) -> None:
    whole_alias, sliced_alias = two_aliases
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for number, item in enumerate(ITEMS):
            out.write(json.dumps({"id": f"exp-{number}", "title": item["title"],
                                  "text": item["body"], "url": item["link"],
                                  "published": item["published"], "outlet": f"Outlet {number}"})
                      + "\n")

    whole = _run(es_server.url, whole_alias, tmp_path, "--input", str(path), "--slice-mb", "0")
    # Every line is longer than 300 bytes: a slice (and a pipeline) per article at least,
    # more where a range holds no line's start and reads nothing.
    sliced = _run(es_server.url, sliced_alias, tmp_path, "--input", str(path),
                  "--slice-mb", str(300 / 2**20))

    assert whole["slices"] == 1 and sliced["slices"] >= len(ITEMS)
    assert whole["entries_seen"] == sliced["entries_seen"] == len(ITEMS)
    assert whole["indexed"] == sliced["indexed"] == 4  # Mali is off topic, the text copy a duplicate
    # One pipeline finds the copy within the run; a later slice finds it in the index.
    assert whole["duplicates"] == {"in_run": 1, "already_indexed": 0}
    assert sliced["duplicates"] == {"in_run": 0, "already_indexed": 1}
    assert whole["near_duplicates"] == sliced["near_duplicates"] == 1
    docs = _same_index(es_client, whole_alias, sliced_alias)
    copy = next(d for d in docs.values() if d["url"] == wirestory.COPY["link"])
    assert copy["duplicate_of"] == copy["story_id"] != copy["id"]


@pytest.mark.es
def test_a_pass_in_slices_of_feeds_indexes_and_records_what_one_pipeline_does(
        es_client, es_server, two_aliases, tmp_path: Path) -> None:
    whole_alias, sliced_alias = two_aliases
    with FeedServer() as server:
        urls = [server.route(f"/feed{n}.xml", Reply(body=rss([item]))) for n, item in enumerate(ITEMS)]
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("settings:\n  retries: 0\nfeeds:\n"
                         + "".join(f"  - url: {u}\n    name: Feed {n}\n" for n, u in enumerate(urls)),
                         encoding="utf-8")

        whole = _run(es_server.url, whole_alias, tmp_path, "--feeds", str(feeds),
                     "--slice-feeds", "0")
        sliced = _run(es_server.url, sliced_alias, tmp_path, "--feeds", str(feeds),
                      "--slice-feeds", "4")

    assert (whole["slices"], sliced["slices"]) == (1, 2)
    assert whole["feeds"] == sliced["feeds"] and whole["feeds"]["ok"] == len(ITEMS)
    assert whole["indexed"] == sliced["indexed"] == 4
    _same_index(es_client, whole_alias, sliced_alias)
    for alias in two_aliases:  # every feed's validators and status recorded, slice or not
        es_client.indices.refresh(index=f"{alias}-state")
        states = es_client.search(index=f"{alias}-state", size=100)["hits"]["hits"]
        assert sorted(s["_source"]["url"] for s in states) == sorted(urls)
        assert {s["_source"]["last_status"] for s in states} == {"ok"}


def test_slice_options_belong_to_their_input(tmp_path: Path, capsys) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:9/feed.xml\n", encoding="utf-8")

    assert main(["run", "--feeds", str(feeds), "--slice-mb", "4"]) == 2
    assert main(["run", "--input", str(feeds), "--slice-feeds", "4"]) == 2
    err = capsys.readouterr().err
    assert "--slice-mb applies to --input, not to --feeds" in err
    assert "--slice-feeds applies to --feeds; use --slice-mb with --input" in err


@pytest.mark.es
def test_a_watchers_pass_parses_the_fetched_bodies_in_slices(es_client, es_server, es_alias,
                                                             tmp_path: Path) -> None:
    relevant = [item for item in ITEMS if item is not OFF_TOPIC]
    with FeedServer() as server:
        urls = [server.route(f"/feed{n}.xml", Reply(body=rss([item])))
                for n, item in enumerate(relevant)]
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("settings:\n  retries: 0\nfeeds:\n"
                         + "".join(f"  - url: {u}\n" for u in urls), encoding="utf-8")
        passes: list = []
        options = WatchOptions(feeds_path=feeds, es_url=es_server.url, alias=es_alias,
                               interval=0.1, max_cycles=1, slice_feeds=3)

        assert watch(options, passes.append) == 1

    figures = passes[0].figures()
    assert figures["slices"] == 2  # five changed feeds, three per pipeline
    assert figures["feeds"]["ok"] == len(relevant) and figures["entries_seen"] == len(relevant)
    es_client.indices.refresh(index=es_alias)
    indexed = es_client.search(index=es_alias, size=100, source=["url"])["hits"]["hits"]
    # The text copy, fourth, is a duplicate of the third's report: found in the index.
    assert figures["indexed"] == len(indexed) == len(relevant) - 1
    assert figures["duplicates"] == {"in_run": 0, "already_indexed": 1}
