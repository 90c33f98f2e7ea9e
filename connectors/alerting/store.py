"""The alerts index `<alias>-alerts`: each (rule, story) fires once, and delivery is tracked per notifier.

An alert is created with `_id` = `alert_id(rule_id, story_id)` and the
`create` operation, with status "pending", before anything is sent; a 409
means it fired on an earlier run and it is not fired again. Each notifier
that delivers it is recorded under `delivery.<notifier>` (`sent_at`; a
failure leaves `failed_at` and `error`), so a retry goes only to the
notifiers that have not got it. Once every configured notifier has it,
its status becomes "sent". Alerts still "pending" (a notifier failed, or
the run died between recording and sending) are sent on the next run.

Updates are partial documents (`update` with `doc`), which Elasticsearch
merges into `delivery` without a script: each notifier's state is its own
key, so no read-modify-write is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from elasticsearch import Elasticsearch

from connectors.alerting.model import Alert, utc_now
from connectors.errors import IndexingError
from connectors.es_client import client_url, translating_errors
from connectors.es_documents import bulk_create
from connectors.es_index import ensure_aux_index

__all__ = [
    "PENDING",
    "SENT",
    "alerts_index_name",
    "ensure_alerts_index",
    "mappings_for_alerts",
    "mark_done",
    "mark_failed",
    "mark_sent",
    "pending_alerts",
    "record_alerts",
]

PENDING = "pending"
SENT = "sent"
PAGE_SIZE = 1000


def alerts_index_name(alias: str) -> str:
    return f"{alias}-alerts"


def mappings_for_alerts() -> dict[str, Any]:
    """One document per alert; `delivery` is kept for reading, not indexed."""
    return {
        "dynamic": False,
        "properties": {
            "alert_id": {"type": "keyword"},
            "rule_id": {"type": "keyword"},
            "rule_name": {"type": "keyword"},
            "story_id": {"type": "keyword"},
            "doc_id": {"type": "keyword"},
            "title": {"type": "text", "fields": {"keyword": {"type": "keyword",
                                                             "ignore_above": 512}}},
            "url": {"type": "keyword"},
            "published": {"type": "date"},
            "outlet": {"type": "keyword"},
            "run_id": {"type": "keyword"},
            "matched_at": {"type": "date"},
            "status": {"type": "keyword"},
            "sent_at": {"type": "date"},
            "delivery": {"type": "object", "enabled": False},
        },
    }


def ensure_alerts_index(client: Elasticsearch, alias: str) -> bool:
    """Creates `<alias>-alerts` (or adds new fields to it); True when created now."""
    return ensure_aux_index(client, alerts_index_name(alias), mappings_for_alerts())


def record_alerts(client: Elasticsearch, alias: str, alerts: Iterable[Alert]) -> list[Alert]:
    """Creates the alerts as pending; returns only those that never fired before.

    Raises `IndexingError` if the index refuses one (nothing is dropped
    quietly); the alerts created before that stay recorded.
    """
    unique: dict[str, Alert] = {}
    for alert in alerts:
        unique.setdefault(alert.id, alert)
    if not unique:
        return []
    index = alerts_index_name(alias)
    ensure_alerts_index(client, alias)
    docs = [(alert_id, {**alert.to_record(), "status": PENDING, "delivery": {}})
            for alert_id, alert in unique.items()]
    report = bulk_create(client, index, docs)
    _refresh(client, index)
    if report.failed:
        alert_id, error = report.failed[0]
        raise IndexingError(f"{len(report.failed)} alerts not recorded in '{index}', "
                            f"first {alert_id}: {error}")
    created = set(report.created)
    return [alert for alert_id, alert in unique.items() if alert_id in created]


def pending_alerts(client: Elasticsearch, alias: str) -> list[Alert]:
    """Every alert not yet delivered to all its notifiers: oldest match first, then by story date."""
    index = alerts_index_name(alias)
    alerts: list[Alert] = []
    after: list[Any] | None = None
    while True:
        extra = {"search_after": after} if after is not None else {}
        with translating_errors(f"reading pending alerts from '{index}'", client_url(client)):
            response = client.search(
                index=index, query={"term": {"status": PENDING}}, size=PAGE_SIZE,
                sort=[{"matched_at": "asc"}, {"published": "asc"}, {"alert_id": "asc"}],
                track_total_hits=False,
                ignore_unavailable=True, allow_no_indices=True, **extra)
        hits = response["hits"]["hits"]
        alerts += [Alert.from_record(hit["_source"]) for hit in hits]
        if len(hits) < PAGE_SIZE:
            return alerts
        after = hits[-1]["sort"]


def mark_sent(client: Elasticsearch, alias: str, alert_ids: Iterable[str], notifier: str) -> None:
    """Records that `notifier` delivered these alerts: it is not asked again."""
    now = utc_now()
    _update(client, alias, {alert_id: {"delivery": {notifier: {"sent_at": now, "error": None}}}
                            for alert_id in alert_ids},
            f"recording alerts sent by '{notifier}'")


def mark_failed(client: Elasticsearch, alias: str, failures: Mapping[str, str],
                notifier: str) -> None:
    """Records why `notifier` could not deliver these alerts (they stay pending)."""
    now = utc_now()
    _update(client, alias, {alert_id: {"delivery": {notifier: {"failed_at": now, "error": error}}}
                            for alert_id, error in failures.items()},
            f"recording alerts '{notifier}' failed to send")


def mark_done(client: Elasticsearch, alias: str, alert_ids: Iterable[str]) -> None:
    """Sets status "sent": every notifier has these alerts."""
    now = utc_now()
    _update(client, alias, {alert_id: {"status": SENT, "sent_at": now} for alert_id in alert_ids},
            "closing sent alerts")


def _update(client: Elasticsearch, alias: str, changes: Mapping[str, Mapping[str, Any]],
            what: str) -> None:
    if not changes:
        return
    index = alerts_index_name(alias)
    operations: list[Mapping[str, Any]] = []
    for alert_id, doc in changes.items():
        operations += [{"update": {"_index": index, "_id": alert_id, "retry_on_conflict": 3}},
                       {"doc": doc}]
    with translating_errors(f"{what} in '{index}'", client_url(client)):
        # A handful of updates per pass on a small index: refreshing at once costs
        # less than waiting for the next periodic refresh, and the next reader sees them.
        response = client.bulk(operations=operations, refresh=True)
    failed: Sequence[Mapping[str, Any]] = [item["update"] for item in response["items"]
                                           if item["update"].get("status", 0) >= 300]
    if failed:
        first = failed[0]
        error = first.get("error") or {}
        reason = error.get("reason", error) if isinstance(error, dict) else error
        raise IndexingError(f"{what} in '{index}': {len(failed)} updates refused, "
                            f"first {first.get('_id')}: {first.get('status')} {reason}")


def _refresh(client: Elasticsearch, index: str) -> None:
    with translating_errors(f"refreshing '{index}'", client_url(client)):
        client.indices.refresh(index=index)
