"""When to fetch a feed next: the server's word, the feed's own, and our backoff.

A feed is due unless its state says `not_before` lies in the future. That
time is set after every fetch, from whichever asks for the longest wait:

* Cache-Control ``max-age`` on a 200 or 304 (the server: "unchanged until then");
* the feed's RSS ``<ttl>`` (the publisher: "check again in N minutes");
* Retry-After on a final 429 / 503 (the server: "not before then");
* our own backoff once a feed has failed `failures_before_backoff` times in a
  row: `failure_backoff` seconds, doubling with each further failure up to
  `failure_backoff_max`. A feed that keeps failing is asked less and less
  often, but never forgotten; its first success clears the backoff.

What a server or feed asks for is capped at `schedule_max`, so a typo like
``<ttl>99999</ttl>`` cannot silence a feed for months. Everything here is pure;
the state store records the result and `run`/`watch` read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from transforms.model import FetchOutcome

__all__ = ["SchedulePolicy", "NextFetch", "next_fetch", "is_due", "parse_time", "format_time"]


@dataclass(frozen=True)
class SchedulePolicy:
    """How long to wait after failures, and the most a server or feed can make us wait."""

    failures_before_backoff: int = 3
    failure_backoff: float = 300.0
    failure_backoff_max: float = 6 * 3600.0
    schedule_max: float = 24 * 3600.0


@dataclass(frozen=True)
class NextFetch:
    """The earliest time to fetch again (None: at the next pass) and why."""

    not_before: str | None = None
    reason: str | None = None


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """An ISO-8601 time as stored (with Z or an offset), always timezone-aware."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def next_fetch(outcome: FetchOutcome, consecutive_failures: int, ttl_s: float | None,
               policy: SchedulePolicy, checked: datetime) -> NextFetch:
    """The wait after this outcome; `consecutive_failures` already counts it.

    `ttl_s` is the feed's last known <ttl>, so a 304 (no body to read it
    from) keeps honouring it.
    """
    waits: list[tuple[float, str]] = []
    if outcome.status == "failed":
        if outcome.retry_after_s:
            waits.append((min(outcome.retry_after_s, policy.schedule_max), "retry-after"))
        over = consecutive_failures - policy.failures_before_backoff
        if over >= 0:
            backoff = min(policy.failure_backoff * 2 ** min(over, 32), policy.failure_backoff_max)
            waits.append((backoff, "backoff"))
    else:
        if outcome.max_age_s:
            waits.append((min(outcome.max_age_s, policy.schedule_max), "cache-control"))
        if ttl_s:
            waits.append((min(ttl_s, policy.schedule_max), "ttl"))
    if not waits:
        return NextFetch()
    seconds, reason = max(waits)
    return NextFetch(not_before=format_time(checked + timedelta(seconds=seconds)), reason=reason)


def is_due(not_before: str | None, now: datetime) -> bool:
    """True when nothing holds the feed back; an unreadable time never silences a feed."""
    if not not_before:
        return True
    try:
        return parse_time(not_before) <= now
    except ValueError:
        return True
