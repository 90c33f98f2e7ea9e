"""The read-only questions `libya-watch status` asks of Elasticsearch, one function per index.

Each reader returns None when its index does not exist yet (a fresh
cluster, or an alias no run has written to), so the caller can say
"nothing yet" instead of failing; every other Elasticsearch failure
becomes one of our errors through `translating_errors`. Formatting is the
caller's business: these functions only fetch and shape the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from connectors.alerting.store import PENDING, alerts_index_name
from connectors.es_client import client_url, translating_errors
from connectors.runlock import lock_index_name, stored_lock
from connectors.runlog import runs_index_name
from connectors.state import FeedState, state_index_name

__all__ = [
    "AlertCounts",
    "DayCount",
    "DocumentCounts",
    "NotifierFailures",
    "RunHistory",
    "read_alert_counts",
    "read_document_counts",
    "read_feed_states",
    "read_lock",
    "read_runs",
]

STATE_PAGE_SIZE = 1000
# Pending alerts read to find which notifiers fail: enough to name them, few enough to be quick.
PENDING_SAMPLE = 100
DAY_FORMAT = "yyyy-MM-dd"


@dataclass(frozen=True)
class DayCount:
    """One UTC day: documents indexed that day, and how many of them are story heads."""

    day: str  # YYYY-MM-DD
    documents: int
    stories: int


@dataclass(frozen=True)
class DocumentCounts:
    """Documents behind the alias: in total, and per day over the window."""

    total: int
    stories: int
    last_indexed_at: str | None
    days: tuple[DayCount, ...]


@dataclass(frozen=True)
class NotifierFailures:
    """One notifier that could not deliver some of the pending alerts read."""

    notifier: str
    alerts: int
    last_failed_at: str | None
    last_error: str | None


@dataclass(frozen=True)
class AlertCounts:
    """Alerts by status (pending, sent, and any other status found), and why some still wait."""

    by_status: Mapping[str, int]
    matched_in_window: int
    oldest_pending: str | None = None
    pending_read: int = 0
    notifier_failures: tuple[NotifierFailures, ...] = ()


@dataclass(frozen=True)
class RunHistory:
    """The newest run, the newest one that got as far as indexing, and runs per status."""

    last: Mapping[str, Any] | None
    last_indexed: Mapping[str, Any] | None
    in_window: Mapping[str, int] = field(default_factory=dict)


def _exists(client: Elasticsearch, index: str) -> bool:
    with translating_errors(f"checking for index '{index}'", client_url(client)):
        return bool(client.indices.exists(index=index))


def read_feed_states(client: Elasticsearch, alias: str) -> list[FeedState] | None:
    """Every feed's stored state, by URL; None without a state index.

    Paged with `search_after` on the URL, so thousands of feeds come back
    in a few requests and none is skipped.
    """
    index = state_index_name(alias)
    if not _exists(client, index):
        return None
    states: list[FeedState] = []
    after: list[Any] | None = None
    while True:
        extra = {"search_after": after} if after is not None else {}
        with translating_errors(f"reading feed state from '{index}'", client_url(client)):
            response = client.search(index=index, size=STATE_PAGE_SIZE, sort=[{"url": "asc"}],
                                     track_total_hits=False, **extra)
        hits = response["hits"]["hits"]
        states += [FeedState.from_document(hit["_source"]) for hit in hits]
        if len(hits) < STATE_PAGE_SIZE:
            return states
        after = hits[-1]["sort"]


_STORY_HEADS = {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}}


def read_document_counts(client: Elasticsearch, alias: str, first_day: date,
                         last_day: date) -> DocumentCounts | None:
    """Documents and story heads per UTC day of `indexed_at`, from `first_day` to `last_day`.

    Every day of the window gets a row, empty days included, so a day the
    pipeline indexed nothing shows as 0 rather than being missing.
    """
    if not _exists(client, alias):
        return None
    start, end = first_day.isoformat(), last_day.isoformat()
    after_end = (last_day + timedelta(days=1)).isoformat()
    window = {"range": {"indexed_at": {"gte": start, "lt": after_end, "format": DAY_FORMAT,
                                       "time_zone": "UTC"}}}
    aggs = {
        "stories": {"filter": _STORY_HEADS},
        "last_indexed": {"max": {"field": "indexed_at", "format": "strict_date_time_no_millis"}},
        "window": {"filter": window, "aggs": {"per_day": {
            "date_histogram": {"field": "indexed_at", "calendar_interval": "day",
                               "time_zone": "UTC", "format": DAY_FORMAT, "min_doc_count": 0,
                               "extended_bounds": {"min": start, "max": end}},
            "aggs": {"stories": {"filter": _STORY_HEADS}}}}},
    }
    with translating_errors(f"counting documents in '{alias}'", client_url(client)):
        response = client.search(index=alias, size=0, track_total_hits=True, aggs=aggs)
    result = response["aggregations"]
    per_day = {bucket["key_as_string"]: bucket for bucket in
               result["window"]["per_day"]["buckets"]}
    days = []
    day = first_day
    while day <= last_day:
        bucket = per_day.get(day.isoformat()) or {}
        days.append(DayCount(day=day.isoformat(), documents=int(bucket.get("doc_count", 0)),
                             stories=int((bucket.get("stories") or {}).get("doc_count", 0))))
        day += timedelta(days=1)
    last = result["last_indexed"]
    return DocumentCounts(total=int(response["hits"]["total"]["value"]),
                          stories=int(result["stories"]["doc_count"]),
                          last_indexed_at=last.get("value_as_string") if last.get("value")
                          else None,
                          days=tuple(days))


def read_alert_counts(client: Elasticsearch, alias: str, first_day: date) -> AlertCounts | None:
    """Alerts per status, and, when some are pending, which notifiers keep failing them.

    Delivery details are kept in `_source` only (not indexed), so the
    notifier failures are read from the oldest `PENDING_SAMPLE` pending
    alerts rather than counted by Elasticsearch.
    """
    index = alerts_index_name(alias)
    if not _exists(client, index):
        return None
    aggs = {"by_status": {"terms": {"field": "status", "size": 20, "missing": "(none)"}},
            "in_window": {"filter": {"range": {"matched_at": {
                "gte": first_day.isoformat(), "format": DAY_FORMAT, "time_zone": "UTC"}}}}}
    with translating_errors(f"counting alerts in '{index}'", client_url(client)):
        response = client.search(index=index, size=0, aggs=aggs)
    result = response["aggregations"]
    by_status = {bucket["key"]: int(bucket["doc_count"])
                 for bucket in result["by_status"]["buckets"]}
    in_window = int(result["in_window"]["doc_count"])
    counts = AlertCounts(by_status=by_status, matched_in_window=in_window)
    if not by_status.get(PENDING):
        return counts
    with translating_errors(f"reading pending alerts from '{index}'", client_url(client)):
        response = client.search(index=index, size=PENDING_SAMPLE,
                                 query={"term": {"status": PENDING}},
                                 sort=[{"matched_at": "asc"}, {"alert_id": "asc"}],
                                 source=["matched_at", "delivery"], track_total_hits=False)
    hits = [hit["_source"] for hit in response["hits"]["hits"]]
    return AlertCounts(by_status=by_status, matched_in_window=in_window,
                       oldest_pending=hits[0].get("matched_at") if hits else None,
                       pending_read=len(hits), notifier_failures=_notifier_failures(hits))


def _notifier_failures(alerts: list[Mapping[str, Any]]) -> tuple[NotifierFailures, ...]:
    """Per notifier: the alerts whose last delivery attempt failed, and its latest error."""
    seen: dict[str, list[tuple[str, str | None]]] = {}
    for alert in alerts:
        for name, delivery in (alert.get("delivery") or {}).items():
            if isinstance(delivery, Mapping) and delivery.get("error"):
                seen.setdefault(name, []).append((str(delivery.get("failed_at") or ""),
                                                  str(delivery["error"])))
    failures = []
    for name, attempts in sorted(seen.items()):
        failed_at, error = max(attempts)
        failures.append(NotifierFailures(notifier=name, alerts=len(attempts),
                                         last_failed_at=failed_at or None, last_error=error))
    return tuple(failures)


def read_runs(client: Elasticsearch, alias: str, first_day: date) -> RunHistory | None:
    """The newest run, the newest with a summary (when the newest has none), runs per status."""
    index = runs_index_name(alias)
    if not _exists(client, index):
        return None
    aggs = {"in_window": {"filter": {"range": {"started_at": {
                "gte": first_day.isoformat(), "format": DAY_FORMAT, "time_zone": "UTC"}}},
            "aggs": {"by_status": {"terms": {"field": "status", "size": 20}}}}}
    newest_first = [{"started_at": "desc"}, {"run_id": "desc"}]
    with translating_errors(f"reading runs from '{index}'", client_url(client)):
        response = client.search(index=index, size=1, sort=newest_first, aggs=aggs)
    hits = response["hits"]["hits"]
    last = hits[0]["_source"] if hits else None
    buckets = response["aggregations"]["in_window"]["by_status"]["buckets"]
    in_window = {bucket["key"]: int(bucket["doc_count"]) for bucket in buckets}
    last_indexed = last if last is None or last.get("indexed_at") else None
    if last is not None and last_indexed is None:
        with translating_errors(f"reading runs from '{index}'", client_url(client)):
            response = client.search(index=index, size=1, sort=newest_first,
                                     query={"exists": {"field": "indexed_at"}})
        hits = response["hits"]["hits"]
        last_indexed = hits[0]["_source"] if hits else None
    return RunHistory(last=last, last_indexed=last_indexed, in_window=in_window)


def read_lock(client: Elasticsearch, alias: str) -> Mapping[str, Any] | None:
    """The run lock document (see `connectors.runlock`), or None when no run holds it."""
    doc = stored_lock(client, lock_index_name(alias))
    return None if doc is None else dict(doc["_source"])
