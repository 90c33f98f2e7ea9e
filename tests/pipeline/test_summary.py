"""The run summary: figures from counters, the text people read, and counters read from a pipeline."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline.summary import FailedFeed, RunSummary, read_counters
from transforms.metrics import counter

COUNTERS = {
    "feeds_ok": 7, "feeds_not_modified": 2, "feeds_failed": 2, "feeds_bozo": 1,
    "feeds_held_back": 1, "entries_seen": 40, "normalize_failed": 3, "relevant": 25,
    "irrelevant": 12, "duplicates_url": 4, "duplicates_text": 2, "already_indexed": 5,
    "indexed": 14, "index_errors": 1, "dead_letters": 6,
    "fetch_us": 1_234_000, "dedup_us": 4_000, "index_us": 500_000, "slices": 3,
}
FAILED = [FailedFeed("http://wire.example/gone.xml", "HTTP 404 Not Found", 404),
          FailedFeed("http://down.example/rss", "connection refused")]


def summary(**changes) -> RunSummary:
    fields = dict(run_id="20200606T100000Z-abc123", counters=dict(COUNTERS), seconds=12.3456,
                  failed_feeds=list(FAILED))
    fields.update(changes)
    return RunSummary(**fields)


def test_figures_gather_the_counters_by_topic() -> None:
    assert summary().figures() == {
        "run_id": "20200606T100000Z-abc123",
        "feeds": {"ok": 7, "not_modified": 2, "failed": 2, "bozo": 1, "not_due": 0, "held_back": 1},
        "entries_seen": 40,
        "normalize_failed": 3,
        "relevant": 25,
        "irrelevant": 12,
        "duplicates": {"in_run": 6, "already_indexed": 5},
        "indexed": 14,
        "errors": {"index": 1, "dead_letters": 6},
        "seconds": 12.346,
        "stage_seconds": {"fetch": 1.234, "dedup": 0.004, "index": 0.5},
        "failed_feeds": [
            {"url": "http://wire.example/gone.xml", "error": "HTTP 404 Not Found", "http_status": 404},
            {"url": "http://down.example/rss", "error": "connection refused", "http_status": None},
        ],
        "near_duplicates": 0,
        "slices": 3,
        "alerts": None,
    }


def test_missing_counters_are_zero_and_unmeasured_stages_absent() -> None:
    figures = summary(counters={}, failed_feeds=[]).figures()
    assert figures["feeds"] == {"ok": 0, "not_modified": 0, "failed": 0, "bozo": 0, "not_due": 0, "held_back": 0}
    assert figures["indexed"] == 0 and figures["duplicates"]["in_run"] == 0
    assert figures["stage_seconds"] == {} and figures["failed_feeds"] == []


def test_stage_seconds_follow_pipeline_order() -> None:
    assert list(summary().stage_seconds()) == ["fetch", "dedup", "index"]


def test_json_is_the_figures() -> None:
    assert json.loads(summary().to_json()) == summary().figures()


def test_text_reports_every_figure_and_each_failed_feed() -> None:
    text = summary().to_text()
    assert text.splitlines() == [
        "run 20200606T100000Z-abc123: 12.3 s in 3 slices",
        "feeds      7 ok, 2 not modified, 2 failed (1 malformed but usable)",
        "entries    40 seen, 25 relevant, 12 not about Libya, 3 unusable",
        "duplicates 6 within the run, 5 already indexed, 0 near-duplicate copies joined a story",
        "indexed    14 new documents, 1 refused by the index, 6 dead letters",
        "stages     fetch 1.23 s, dedup 0.00 s, index 0.50 s",
        "held back  1 feeds keep their old validators (some entries were refused); "
        "the next run retries them",
        "failed     http://wire.example/gone.xml [404]: HTTP 404 Not Found",
        "failed     http://down.example/rss: connection refused",
    ]


def test_text_leaves_out_held_back_and_failed_lines_when_there_are_none() -> None:
    counters = {**COUNTERS, "feeds_held_back": 0}
    lines = summary(counters=counters, failed_feeds=[]).to_text().splitlines()
    assert len(lines) == 6
    assert not any(line.startswith(("held back", "failed ")) for line in lines)


def test_text_names_the_slices_only_when_a_run_had_several() -> None:
    for slices, first in ((0, "12.3 s"), (1, "12.3 s"), (2, "12.3 s in 2 slices")):
        text = summary(counters={**COUNTERS, "slices": slices}).to_text()
        assert text.splitlines()[0] == f"run 20200606T100000Z-abc123: {first}"


class _Count(beam.DoFn):
    def __init__(self) -> None:
        self._seen = counter("entries_seen")
        self._relevant = counter("relevant")

    def process(self, n: int):
        self._seen.inc()
        if n % 2:
            self._relevant.inc(10)
        yield n


def test_read_counters_sums_the_project_counters_of_a_finished_pipeline() -> None:
    p = BeamTestPipeline()
    numbers = p | beam.Create([1, 2, 3])
    numbers | "First" >> beam.ParDo(_Count())
    numbers | "Second" >> beam.ParDo(_Count())  # the same names in two steps add up
    numbers | "Foreign" >> beam.Map(lambda n: beam.metrics.Metrics.counter("other", "indexed").inc())
    result = p.run()
    result.wait_until_finish()
    assert read_counters(result) == {"entries_seen": 6, "relevant": 40}
