"""Advance feed validators only once the feed's entries are safely indexed.

A feed's new ETag / Last-Modified is written only after every one of its
documents reached Elasticsearch. Any document refused by the index holds the
validators back, so the next run fetches the whole feed again and the
refused entries get another chance (the ones already stored come back as
duplicates and are skipped). When the sink cannot reach Elasticsearch the
pipeline fails before this stage runs, and nothing is advanced at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam

from connectors.schedule import SchedulePolicy
from connectors.state import FeedStateStore
from transforms.esdofn import ElasticsearchDoFn
from transforms.metrics import counter, stage_timer
from transforms.model import DeadLetter, FetchOutcome

__all__ = ["RecordFeedState", "may_advance"]


def may_advance(report: FetchOutcome, refused: Iterable[DeadLetter]) -> bool:
    """A feed's validators move on when it was fetched and nothing of it was refused.

    A 304 carries no entries, so whatever validators the server repeated
    with it may be kept.
    """
    if report.status == "not_modified":
        return True
    return report.status == "ok" and not any(True for _ in refused)


class _Record(ElasticsearchDoFn):
    def __init__(self, client_factory: Callable[[], Any], alias: str, run_id: str,
                 policy: SchedulePolicy):
        super().__init__(client_factory)
        self._alias = alias
        self._run_id = run_id
        self._policy = policy
        self._store: FeedStateStore | None = None
        self._held_back = counter("feeds_held_back")

    def setup(self) -> None:
        super().setup()
        self._store = FeedStateStore(self._client, self._alias)

    def process(self, batch: list[tuple[str, dict[str, list]]]) -> Iterator[str]:
        reports: list[FetchOutcome] = []
        advance: set[str] = set()
        for url, joined in batch:
            for report in joined["reports"]:
                reports.append(report)
                if may_advance(report, joined["refused"]):
                    advance.add(url)
                elif report.status == "ok":
                    self._held_back.inc()
        with stage_timer("state"):
            self._store.record(reports, self._run_id, advance, self._policy)
        yield from (r.feed_url for r in reports)


class RecordFeedState(beam.PTransform):
    """(feed reports, index dead letters) -> feed URLs whose state was recorded."""

    def __init__(self, client_factory: Callable[[], Any], alias: str, run_id: str,
                 policy: SchedulePolicy = SchedulePolicy()):
        super().__init__()
        self._client_factory = client_factory
        self._alias = alias
        self._run_id = run_id
        self._policy = policy

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]):
        reports, refused = inputs
        keyed_reports = reports | "KeyReports" >> beam.Map(lambda r: (r.feed_url, r))
        keyed_refused = (
            refused
            | "WithFeed" >> beam.Filter(lambda d: d.feed_url is not None)
            | "KeyRefused" >> beam.Map(lambda d: (d.feed_url, d)))
        return (
            {"reports": keyed_reports, "refused": keyed_refused}
            | "Join" >> beam.CoGroupByKey()
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=200)
            | "Record" >> beam.ParDo(_Record(self._client_factory, self._alias, self._run_id,
                                               self._policy))
        )
