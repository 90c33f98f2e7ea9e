"""Per-feed state kept in Elasticsearch: HTTP validators and feed health.

One document per feed in `<alias>-state`, with `_id` the SHA-1 of the feed
URL. Keeping it in the cluster (not on a worker's disk) lets any run, on any
machine, send the right `If-None-Match` / `If-Modified-Since` and lets Kibana
show which feeds keep failing.

Validators advance only when the caller says so (typically once the entries
of that body are safely indexed), so a crash between fetching and indexing
makes the next run fetch the body again instead of getting a 304 and losing
the entries. Health is recorded for every fetch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from elasticsearch import Elasticsearch

from connectors.errors import ElasticsearchError, IndexingError
from connectors.es_client import translating_errors
from connectors.es_index import ensure_aux_index, validate_index_name
from connectors.schedule import SchedulePolicy, next_fetch, parse_time
from transforms.model import FetchOutcome

__all__ = [
    "FeedState",
    "FeedStateStore",
    "feed_doc_id",
    "state_index_name",
    "next_state",
    "mappings_for_state",
]

SUCCESS_STATUSES = frozenset({"ok", "not_modified"})
FAILED_STATUS = "failed"
# Optimistic-concurrency retries when two runs update the same feed at once.
MAX_CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class FeedState:
    """What the last runs learned about one feed."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    last_checked: str | None = None
    consecutive_failures: int = 0
    last_run_id: str | None = None
    ttl_s: float | None = None
    not_before: str | None = None
    not_before_reason: str | None = None

    def to_document(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> FeedState:
        known = {name: doc.get(name) for name in cls.__dataclass_fields__ if name in doc}
        known["consecutive_failures"] = int(known.get("consecutive_failures") or 0)
        return cls(**known)


def feed_doc_id(url: str) -> str:
    """The state document's `_id`: short, fixed-length, and the same on every machine."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def state_index_name(alias: str) -> str:
    return f"{alias}-state"


def mappings_for_state() -> dict[str, Any]:
    """Mapping of `<alias>-state` (a fresh copy)."""
    return {
        "dynamic": False,
        "properties": {
            "url": {"type": "keyword"},
            "etag": {"type": "keyword", "index": False},
            "last_modified": {"type": "keyword", "index": False},
            "last_success": {"type": "date"},
            "last_error": {"type": "text",
                           "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
            "last_status": {"type": "keyword"},
            "last_http_status": {"type": "integer"},
            "last_checked": {"type": "date"},
            "consecutive_failures": {"type": "integer"},
            "last_run_id": {"type": "keyword"},
            "ttl_s": {"type": "float"},
            "not_before": {"type": "date"},
            "not_before_reason": {"type": "keyword"},
        },
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _moment(checked: str) -> datetime:
    try:
        return parse_time(checked)
    except ValueError:
        return datetime.now(timezone.utc)


def next_state(previous: FeedState | None, outcome: FetchOutcome, run_id: str,
               advance_validators: bool, policy: SchedulePolicy = SchedulePolicy()) -> FeedState:
    """The feed's state after one fetch outcome (pure; no Elasticsearch).

    Health and schedule always move. Validators move only when
    `advance_validators` and the fetch succeeded: a 200 replaces both with
    what the server sent now; a 304 updates only those it repeated (servers
    may omit them on a 304).
    """
    if outcome.status not in SUCCESS_STATUSES and outcome.status != FAILED_STATUS:
        raise ValueError(f"{outcome.feed_url}: unknown fetch status {outcome.status!r}")
    state = previous or FeedState(url=outcome.feed_url)
    checked = outcome.fetched_at or _now()
    state = replace(state, last_status=outcome.status, last_http_status=outcome.http_status,
                    last_checked=checked, last_run_id=run_id)
    if outcome.status == FAILED_STATUS:
        failures = state.consecutive_failures + 1
        after = next_fetch(outcome, failures, state.ttl_s, policy, _moment(checked))
        return replace(state, last_error=outcome.error or "failed without a message",
                       consecutive_failures=failures, not_before=after.not_before,
                       not_before_reason=after.reason)
    ttl_s = outcome.ttl_s if outcome.status == "ok" else state.ttl_s
    after = next_fetch(outcome, 0, ttl_s, policy, _moment(checked))
    state = replace(state, last_success=checked, last_error=None, consecutive_failures=0,
                    ttl_s=ttl_s, not_before=after.not_before, not_before_reason=after.reason)
    if not advance_validators:
        return state
    if outcome.status == "ok":
        return replace(state, etag=outcome.etag, last_modified=outcome.last_modified)
    return replace(state, etag=outcome.etag or state.etag,
                   last_modified=outcome.last_modified or state.last_modified)


_CHECK_FIELDS = frozenset({"last_checked", "last_success", "last_run_id"})


def _only_checked_again(before: FeedState, after: FeedState, heartbeat_s: float) -> bool:
    """True when `after` differs from `before` only in when it was checked, and recently so."""
    if heartbeat_s <= 0 or not before.last_checked or not after.last_checked:
        return False
    if any(getattr(before, name) != getattr(after, name)
           for name in FeedState.__dataclass_fields__ if name not in _CHECK_FIELDS):
        return False
    try:
        age = (parse_time(after.last_checked) - parse_time(before.last_checked)).total_seconds()
    except ValueError:
        return False
    return 0 <= age < heartbeat_s


class FeedStateStore:
    """Loads and records `FeedState`s in `<alias>-state`."""

    def __init__(self, client: Elasticsearch, alias: str) -> None:
        self.client = client
        self.index = validate_index_name(state_index_name(alias))
        self._ensured = False

    def ensure(self) -> None:
        """Creates the state index (or adds new fields to it); once per store."""
        if not self._ensured:
            ensure_aux_index(self.client, self.index, mappings_for_state())
            self._ensured = True

    def load(self, urls: Iterable[str]) -> dict[str, FeedState]:
        """The stored state of these feeds; feeds never seen before are absent."""
        return {url: state for url, (state, _) in self._load_versioned(urls).items()}

    def _load_versioned(self, urls: Iterable[str]) -> dict[str, tuple[FeedState, tuple[int, int]]]:
        wanted = list(dict.fromkeys(urls))
        if not wanted:
            return {}
        with translating_errors(f"loading feed state from '{self.index}'"):
            response = self.client.mget(index=self.index, ids=[feed_doc_id(u) for u in wanted])
        found: dict[str, tuple[FeedState, tuple[int, int]]] = {}
        for url, doc in zip(wanted, response["docs"]):
            error = doc.get("error")
            if error:
                if isinstance(error, dict) and error.get("type") == "index_not_found_exception":
                    continue  # no state index yet: the first run
                reason = error.get("reason") if isinstance(error, dict) else error
                raise ElasticsearchError(f"loading feed state from '{self.index}' for {url}: "
                                         f"{reason}")
            if not doc.get("found"):
                continue
            source = doc["_source"]
            if source.get("url") != url:
                raise ElasticsearchError(
                    f"'{self.index}' document {doc['_id']} belongs to {source.get('url')!r}, "
                    f"not {url!r}")
            found[url] = (FeedState.from_document(source), (doc["_seq_no"], doc["_primary_term"]))
        return found

    def record(self, outcomes: Iterable[FetchOutcome], run_id: str,
               advance_validators: Collection[str] = frozenset(),
               policy: SchedulePolicy = SchedulePolicy(),
               heartbeat_s: float = 0.0) -> dict[str, FeedState]:
        """Records health for every outcome; moves validators only for `advance_validators`.

        Returns the new state of each feed. Concurrent writers are detected
        (sequence numbers) and their feeds re-read and re-applied. With
        `heartbeat_s`, a feed whose state changed only by being checked again
        is written at most once per `heartbeat_s`: a watcher polling unchanged
        feeds every few seconds would otherwise rewrite every state document
        each time, which costs the cluster more than the polling costs us.
        """
        by_url: dict[str, list[FetchOutcome]] = {}
        for outcome in outcomes:
            by_url.setdefault(outcome.feed_url, []).append(outcome)
        advance = frozenset(advance_validators)
        unknown = sorted(advance - by_url.keys())
        if unknown:
            raise ValueError(f"advance_validators names {len(unknown)} feeds without an outcome "
                             f"in this call (first: {unknown[0]})")
        if not by_url:
            return {}
        self.ensure()
        result: dict[str, FeedState] = {}
        pending = list(by_url)
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            if attempt:
                time.sleep(0.2 * 2 ** attempt)  # let a concurrent writer or a busy node settle
            stored = self._load_versioned(pending)
            states: dict[str, FeedState] = {}
            operations: list[dict[str, Any]] = []
            written: list[str] = []
            for url in pending:
                previous, version = stored.get(url, (None, None))
                state = previous
                for outcome in by_url[url]:
                    state = next_state(state, outcome, run_id, url in advance, policy)
                states[url] = state
                if previous is not None and _only_checked_again(previous, state, heartbeat_s):
                    result[url] = state
                    continue
                written.append(url)
                action: dict[str, Any] = {"_index": self.index, "_id": feed_doc_id(url)}
                if version is None:
                    operations.append({"create": action})
                else:
                    action.update(if_seq_no=version[0], if_primary_term=version[1])
                    operations.append({"index": action})
                operations.append(state.to_document())
            if not operations:
                return result
            with translating_errors(f"recording feed state in '{self.index}'"):
                response = self.client.bulk(operations=operations)
            conflicts = []
            for url, item in zip(written, response["items"]):
                item_result = next(iter(item.values()))
                status = item_result.get("status", 0)
                if 200 <= status < 300:
                    result[url] = states[url]
                elif status in (409, 429, 503):
                    conflicts.append(url)
                else:
                    error = item_result.get("error") or {}
                    reason = error.get("reason") if isinstance(error, dict) else error
                    raise IndexingError(f"recording feed state in '{self.index}' for {url}: "
                                        f"{status} {reason}")
            if not conflicts:
                return result
            pending = conflicts
        raise IndexingError(
            f"recording feed state in '{self.index}': {len(pending)} feeds kept conflicting "
            f"with concurrent writers (first: {pending[0]})")
