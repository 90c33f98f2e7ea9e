"""When a feed is next due: the server's Cache-Control / Retry-After, the feed's <ttl>, our backoff."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connectors.fetch import _max_age
from connectors.parse import _ttl_seconds
from connectors.schedule import SchedulePolicy, is_due, next_fetch, parse_time
from connectors.state import next_state
from transforms.model import FetchOutcome

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
URL = "http://feeds.example/libya.xml"
POLICY = SchedulePolicy(failures_before_backoff=3, failure_backoff=300, failure_backoff_max=3600,
                        schedule_max=7200)


def outcome(status: str = "ok", **fields) -> FetchOutcome:
    return FetchOutcome(feed_url=URL, status=status, fetched_at="2026-11-23T12:00:00.000Z", **fields)


def wait_s(result) -> float:
    return (parse_time(result.not_before) - NOW).total_seconds()


@pytest.mark.parametrize("header, expected", [
    ("max-age=600", 600.0),
    ("public, max-age=60, must-revalidate", 60.0),
    ('max-age="120"', 120.0),
    ("MAX-AGE=30", 30.0),
    ("no-cache, max-age=600", None),
    ("max-age=600, no-store", None),
    ("max-age=soon", None),
    ("s-maxage=600", None),
    ("", None),
    (None, None),
])
def test_cache_control_max_age(header, expected) -> None:
    assert _max_age(header) == expected


@pytest.mark.parametrize("value, expected", [("60", 3600.0), (" 15 ", 900.0), ("0", None),
                                             ("-5", None), ("hourly", None), (None, None)])
def test_rss_ttl_is_minutes(value, expected) -> None:
    assert _ttl_seconds(value) == expected


def test_a_plain_success_is_due_at_the_next_pass() -> None:
    result = next_fetch(outcome(), 0, None, POLICY, NOW)
    assert result.not_before is None and result.reason is None


def test_the_longest_of_cache_control_and_ttl_wins() -> None:
    result = next_fetch(outcome(max_age_s=600), 0, 1800, POLICY, NOW)
    assert (wait_s(result), result.reason) == (1800, "ttl")
    result = next_fetch(outcome(max_age_s=2400), 0, 1800, POLICY, NOW)
    assert (wait_s(result), result.reason) == (2400, "cache-control")


def test_what_a_server_or_feed_asks_for_is_capped() -> None:
    result = next_fetch(outcome(), 0, 99999 * 60, POLICY, NOW)
    assert (wait_s(result), result.reason) == (POLICY.schedule_max, "ttl")


def test_retry_after_holds_a_failed_feed_back() -> None:
    result = next_fetch(outcome("failed", retry_after_s=120), 1, None, POLICY, NOW)
    assert (wait_s(result), result.reason) == (120, "retry-after")


def test_backoff_starts_at_the_threshold_and_doubles_up_to_its_cap() -> None:
    waits = [next_fetch(outcome("failed"), n, None, POLICY, NOW) for n in range(1, 8)]
    assert [w.not_before for w in waits[:2]] == [None, None]
    assert [wait_s(w) for w in waits[2:]] == [300, 600, 1200, 2400, 3600]
    assert {w.reason for w in waits[2:]} == {"backoff"}


def test_is_due() -> None:
    assert is_due(None, NOW)
    assert is_due("2026-11-23T11:59:59Z", NOW)
    assert not is_due("2026-11-23T12:00:01Z", NOW)
    assert is_due("not a time", NOW)  # an unreadable time never silences a feed


def test_state_carries_the_schedule_and_a_success_clears_the_backoff() -> None:
    state = None
    for _ in range(3):
        state = next_state(state, outcome("failed", error="boom"), "run", False, POLICY)
    assert (state.consecutive_failures, state.not_before_reason) == (3, "backoff")
    assert parse_time(state.not_before) == NOW + timedelta(seconds=300)
    state = next_state(state, outcome("ok", ttl_s=900.0), "run", True, POLICY)
    assert (state.consecutive_failures, state.ttl_s, state.not_before_reason) == (0, 900.0, "ttl")
    # A 304 has no body to read <ttl> from: the last known one still applies.
    state = next_state(state, outcome("not_modified"), "run", True, POLICY)
    assert (state.ttl_s, state.not_before_reason) == (900.0, "ttl")
