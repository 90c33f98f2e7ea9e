"""Fetch and parse feeds inside the pipeline, so any runner spreads the work."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import apache_beam as beam
from apache_beam import pvalue

from connectors.feeds import FetchSettings
from connectors.fetch import fetch_all
from connectors.parse import parse_feed
from transforms.metrics import counter, stage_timer
from transforms.model import DeadLetter, FeedSpec, FetchOutcome

__all__ = ["FetchAndParse", "ParseFetched", "FEED_REPORTS", "DEAD_LETTER", "batches"]

FEED_REPORTS = "feed_reports"
DEAD_LETTER = "dead_letter"


def batches(specs: Sequence[FeedSpec], size: int) -> list[tuple[FeedSpec, ...]]:
    """Groups feeds so that one worker fetches a batch concurrently."""
    if size < 1:
        raise ValueError(f"batch size must be positive, got {size}")
    return [tuple(specs[i:i + size]) for i in range(0, len(specs), size)]


class _FetchBatch(beam.DoFn):
    """Fetches a batch of feeds at once; failures come back as outcomes."""

    def __init__(self, settings: FetchSettings):
        self._settings = settings

    def process(self, batch: tuple[FeedSpec, ...]) -> Iterator[tuple[FetchOutcome, FeedSpec]]:
        with stage_timer("fetch"):
            outcomes = fetch_all(list(batch), self._settings)
        yield from zip(outcomes, batch)


class _ParseOutcome(beam.DoFn):
    """Turns a fetched body into entries and a body-less report for the feed state."""

    def __init__(self):
        self._feeds = {s: counter(f"feeds_{s}") for s in ("ok", "not_modified", "failed")}
        self._bozo = counter("feeds_bozo")
        self._entries = counter("entries_seen")
        self._skipped = counter("entries_unusable")

    def process(self, pair: tuple[FetchOutcome, FeedSpec]) -> Iterator:
        outcome, spec = pair
        report = replace(outcome, body=None)
        if outcome.status == "ok":
            with stage_timer("parse"):
                parsed = parse_feed(outcome, spec)
            if parsed.error:
                report = replace(report, status="failed", error=parsed.error)
                yield pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
                    stage="parse", key=outcome.feed_url, error=parsed.error,
                    feed_url=outcome.feed_url))
            else:
                report = replace(report, bozo=parsed.bozo, entries=len(parsed.entries),
                                 ttl_s=parsed.ttl_s)
                if parsed.bozo:
                    self._bozo.inc()
                self._entries.inc(len(parsed.entries))
                self._skipped.inc(len(parsed.skipped))
                yield from parsed.entries
                for reason in parsed.skipped:
                    yield pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
                        stage="parse", key=f"{outcome.feed_url} {reason}", error=reason,
                        feed_url=outcome.feed_url))
        elif outcome.status == "failed":
            yield pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
                stage="fetch", key=outcome.feed_url, error=outcome.error or "failed",
                feed_url=outcome.feed_url))
        self._feeds[report.status].inc()
        yield pvalue.TaggedOutput(FEED_REPORTS, report)


class ParseFetched(beam.PTransform):
    """(FetchOutcome, FeedSpec) pairs -> RawEntry, with `feed_reports` and `dead_letter` outputs.

    For bodies fetched before the pipeline (the watcher's probe); the same
    parse step `FetchAndParse` ends with.
    """

    def expand(self, fetched: beam.PCollection[tuple[FetchOutcome, FeedSpec]]):
        return fetched | "Parse" >> beam.ParDo(_ParseOutcome()).with_outputs(
            FEED_REPORTS, DEAD_LETTER, main="entries")


class FetchAndParse(beam.PTransform):
    """Feed batches -> RawEntry, with tagged `feed_reports` and `dead_letter` outputs.

    Every feed yields exactly one report (ok, not_modified or failed), which
    is what the feed state is later updated from.
    """

    def __init__(self, settings: FetchSettings):
        super().__init__()
        self._settings = settings

    def expand(self, feed_batches: beam.PCollection[tuple[FeedSpec, ...]]):
        return (
            feed_batches
            | "Spread" >> beam.Reshuffle()
            | "Fetch" >> beam.ParDo(_FetchBatch(self._settings))
            | "Parse" >> beam.ParDo(_ParseOutcome()).with_outputs(
                FEED_REPORTS, DEAD_LETTER, main="entries")
        )
