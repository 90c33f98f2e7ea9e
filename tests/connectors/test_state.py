"""Feed state: the pure state step, and the store against the real local Elasticsearch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pytest
from elasticsearch import Elasticsearch

from connectors.state import FeedState, FeedStateStore, feed_doc_id, next_state
from transforms.model import FetchOutcome

FEED_A = "https://news.example.org/libya/rss.xml"
FEED_B = "https://other.example.net/atom.xml"


def ok(url: str, etag: str | None = None, last_modified: str | None = None,
       at: str = "2025-03-01T10:00:00+00:00") -> FetchOutcome:
    return FetchOutcome(feed_url=url, status="ok", http_status=200, body=b"<rss/>", etag=etag,
                        last_modified=last_modified, fetched_at=at)


def failed(url: str, error: str = "HTTP 503 Service Unavailable",
           at: str = "2025-03-01T10:05:00+00:00") -> FetchOutcome:
    return FetchOutcome(feed_url=url, status="failed", http_status=503, error=error,
                        fetched_at=at)


def not_modified(url: str, etag: str | None = None,
                 at: str = "2025-03-01T11:00:00+00:00") -> FetchOutcome:
    return FetchOutcome(feed_url=url, status="not_modified", http_status=304, etag=etag,
                        fetched_at=at)


def test_doc_id_is_sha1_of_the_url() -> None:
    assert feed_doc_id(FEED_A) == hashlib.sha1(FEED_A.encode()).hexdigest()


def test_failure_counts_up_and_keeps_validators() -> None:
    before = FeedState(url=FEED_A, etag='"v1"', last_success="2025-02-28T00:00:00+00:00",
                       consecutive_failures=1)
    after = next_state(before, failed(FEED_A), "run-2", advance_validators=True)
    assert after.consecutive_failures == 2
    assert after.etag == '"v1"' and after.last_success == before.last_success
    assert (after.last_status, after.last_http_status, after.last_run_id) == (
        "failed", 503, "run-2")
    assert after.last_error == "HTTP 503 Service Unavailable"


def test_success_resets_health_but_validators_wait_until_asked() -> None:
    before = FeedState(url=FEED_A, etag='"v1"', last_error="boom", consecutive_failures=3)
    held = next_state(before, ok(FEED_A, etag='"v2"'), "run-3", advance_validators=False)
    assert held.consecutive_failures == 0 and held.last_error is None
    assert held.last_success == "2025-03-01T10:00:00+00:00"
    assert held.etag == '"v1"'
    moved = next_state(before, ok(FEED_A, etag='"v2"'), "run-3", advance_validators=True)
    assert (moved.etag, moved.last_modified) == ('"v2"', None)


def test_not_modified_keeps_validators_the_server_did_not_repeat() -> None:
    before = FeedState(url=FEED_A, etag='"v1"', last_modified="Sat, 01 Mar 2025 09:00:00 GMT")
    after = next_state(before, not_modified(FEED_A), "run-4", advance_validators=True)
    assert (after.etag, after.last_modified) == (before.etag, before.last_modified)
    assert after.last_status == "not_modified"


def test_unknown_status_is_refused() -> None:
    weird = FetchOutcome(feed_url=FEED_A, status="maybe")
    with pytest.raises(ValueError, match="unknown fetch status 'maybe'"):
        next_state(None, weird, "run-1", advance_validators=False)


@pytest.mark.es
def test_first_run_loads_nothing_and_creates_nothing(es_client: Elasticsearch,
                                                     es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    assert store.load([FEED_A, FEED_B]) == {}
    assert not es_client.indices.exists(index=f"{es_alias}-state")


@pytest.mark.es
def test_round_trip_advances_validators_only_when_asked(es_client: Elasticsearch,
                                                        es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    recorded = store.record([ok(FEED_A, etag='"a1"', last_modified="Sat, 01 Mar 2025 09:00:00 GMT"),
                             ok(FEED_B, etag='"b1"')], "run-1", advance_validators={FEED_A})
    loaded = store.load([FEED_A, FEED_B, "https://never.example.com/feed"])
    assert loaded == recorded
    assert set(loaded) == {FEED_A, FEED_B}
    assert (loaded[FEED_A].etag, loaded[FEED_A].last_modified) == (
        '"a1"', "Sat, 01 Mar 2025 09:00:00 GMT")
    assert (loaded[FEED_B].etag, loaded[FEED_B].last_modified) == (None, None)
    assert loaded[FEED_B].last_success == "2025-03-01T10:00:00+00:00"
    assert {s.last_run_id for s in loaded.values()} == {"run-1"}
    stored = es_client.get(index=f"{es_alias}-state", id=feed_doc_id(FEED_A))["_source"]
    assert stored["url"] == FEED_A


@pytest.mark.es
def test_health_accumulates_across_runs(es_client: Elasticsearch, es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    store.record([ok(FEED_A, etag='"a1"')], "run-1", advance_validators={FEED_A})
    store.record([failed(FEED_A)], "run-2")
    store.record([failed(FEED_A, error="timed out after 20s")], "run-3")
    state = store.load([FEED_A])[FEED_A]
    assert state.consecutive_failures == 2
    assert state.last_error == "timed out after 20s" and state.etag == '"a1"'
    store.record([not_modified(FEED_A)], "run-4", advance_validators={FEED_A})
    state = store.load([FEED_A])[FEED_A]
    assert (state.consecutive_failures, state.last_error, state.etag) == (0, None, '"a1"')
    assert state.last_http_status == 304 and state.last_run_id == "run-4"


@pytest.mark.es
def test_advancing_a_feed_without_an_outcome_is_refused(es_client: Elasticsearch,
                                                        es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    with pytest.raises(ValueError, match=f"first: {FEED_B}"):
        store.record([ok(FEED_A)], "run-1", advance_validators={FEED_A, FEED_B})
    assert store.load([FEED_A]) == {}


@pytest.mark.es
def test_state_index_has_its_own_mapping(es_client: Elasticsearch, es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    store.record([ok(FEED_A)], "run-1")
    index = f"{es_alias}-state"
    props = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert props["consecutive_failures"]["type"] == "integer"
    assert props["last_success"]["type"] == "date"
    assert "title" not in props


class _RacingStore(FeedStateStore):
    """Lets another writer update the feed between this store's read and its write, once."""

    def __init__(self, client: Elasticsearch, alias: str, rival: FeedStateStore) -> None:
        super().__init__(client, alias)
        self.rival = rival
        self.raced = False

    def _load_versioned(self, urls: Iterable[str]):
        loaded = super()._load_versioned(urls)
        if not self.raced:
            self.raced = True
            self.rival.record([failed(FEED_A, error="rival failure")], "run-rival")
        return loaded


@pytest.mark.es
def test_concurrent_writers_do_not_lose_updates(es_client: Elasticsearch, es_alias: str) -> None:
    FeedStateStore(es_client, es_alias).record([failed(FEED_A)], "run-1")
    racing = _RacingStore(es_client, es_alias, FeedStateStore(es_client, es_alias))
    result = racing.record([failed(FEED_A, error="our failure")], "run-2")
    assert racing.raced
    assert result[FEED_A].consecutive_failures == 3
    assert FeedStateStore(es_client, es_alias).load([FEED_A])[FEED_A].consecutive_failures == 3


@pytest.mark.es
def test_a_feed_only_checked_again_is_rewritten_once_per_heartbeat(es_client: Elasticsearch,
                                                                   es_alias: str) -> None:
    store = FeedStateStore(es_client, es_alias)
    store.record([ok(FEED_A, etag='"v1"')], "run-1", advance_validators={FEED_A})
    store.record([not_modified(FEED_A, etag='"v1"', at="2025-03-01T10:00:30+00:00")], "run-1b",
                 advance_validators={FEED_A}, heartbeat_s=300)  # 200 -> 304: a change

    def seq_no() -> int:
        return es_client.get(index=store.index, id=feed_doc_id(FEED_A))["_seq_no"]

    first = seq_no()
    assert first == 1
    # Another 304 two minutes later: nothing but the check time changed, so no write...
    again = store.record([not_modified(FEED_A, etag='"v1"', at="2025-03-01T10:02:00+00:00")],
                         "run-2", advance_validators={FEED_A}, heartbeat_s=300)
    assert again[FEED_A].last_checked == "2025-03-01T10:02:00+00:00"
    assert seq_no() == first
    # ...but once the heartbeat has passed, the check is recorded.
    store.record([not_modified(FEED_A, etag='"v1"', at="2025-03-01T10:06:00+00:00")],
                 "run-3", advance_validators={FEED_A}, heartbeat_s=300)
    assert seq_no() > first
    stored = store.load([FEED_A])[FEED_A]
    assert stored.last_checked == "2025-03-01T10:06:00+00:00"
    # Anything else that changes (a new ETag, a failure) is written at once.
    store.record([not_modified(FEED_A, etag='"v2"', at="2025-03-01T10:07:00+00:00")],
                 "run-4", advance_validators={FEED_A}, heartbeat_s=300)
    assert store.load([FEED_A])[FEED_A].etag == '"v2"'
    store.record([failed(FEED_A, at="2025-03-01T10:08:00+00:00")], "run-5", heartbeat_s=300)
    assert store.load([FEED_A])[FEED_A].consecutive_failures == 1
