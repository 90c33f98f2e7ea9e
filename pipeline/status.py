"""`libya-watch status`: is it running, which feeds fail, what was indexed, which alerts wait.

The report is read from the indices the pipeline keeps (`<alias>-state`,
`<alias>-runs`, `<alias>-alerts`, `<alias>-lock` and the documents behind
`<alias>`), so it describes every runner and machine writing there, not
only this one. Sections whose index does not exist yet read "nothing yet"
(and are `null` in JSON): a fresh cluster is a normal state, not an error.

The text view is meant to stay readable with thousands of feeds: every
unhealthy feed is listed, healthy ones are summed up in one line. The JSON
view holds every feed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from elasticsearch import Elasticsearch

from connectors.errors import ConfigError
from connectors.es_index import validate_index_name
from connectors.es_status import (AlertCounts, DocumentCounts, RunHistory, read_alert_counts,
                                  read_document_counts, read_feed_states, read_lock, read_runs)
from connectors.schedule import format_time, parse_time
from connectors.state import FeedState

__all__ = ["FeedHealth", "StatusReport", "collect_status", "feed_health", "MAX_DAYS"]

MAX_DAYS = 3660
HEALTHY = "healthy"
FAILING = "failing"
BACKED_OFF = "backed_off"


def _after(value: str | None, now: datetime) -> bool:
    """True when `value` is a readable time later than `now`."""
    if not value:
        return False
    try:
        return parse_time(value) > now
    except ValueError:
        return False


@dataclass(frozen=True)
class FeedHealth:
    """One feed's state, with its verdict: healthy, failing, or backed off (failing and waiting)."""

    state: FeedState
    health: str
    due_later: bool = False  # `not_before` lies in the future

    @property
    def waiting(self) -> bool:
        """A healthy feed whose server or `<ttl>` asked us to come back later."""
        return self.health == HEALTHY and self.due_later

    def as_dict(self) -> dict[str, Any]:
        state = self.state
        row = {"url": state.url, "health": self.health, "last_status": state.last_status,
               "last_http_status": state.last_http_status, "last_success": state.last_success,
               "last_checked": state.last_checked, "last_error": state.last_error,
               "consecutive_failures": state.consecutive_failures,
               "last_run_id": state.last_run_id}
        if state.not_before is not None:
            row.update(not_before=state.not_before, not_before_reason=state.not_before_reason,
                       due_later=self.due_later)
        return row


def feed_health(state: FeedState, now: datetime) -> FeedHealth:
    """Failing after a failed fetch; backed off when, on top of that, not due before a later time.

    A `not_before` on a feed that fetched fine is its schedule (Cache-Control,
    `<ttl>`), not a problem: such a feed is healthy. A `not_before` already
    past holds nothing back.
    """
    due_later = _after(state.not_before, now)
    if state.consecutive_failures <= 0:
        health = HEALTHY
    elif due_later:
        health = BACKED_OFF
    else:
        health = FAILING
    return FeedHealth(state=state, health=health, due_later=due_later)


@dataclass(frozen=True)
class StatusReport:
    """Everything `status` shows; a section is None when its index does not exist yet."""

    alias: str
    generated_at: datetime
    days: int
    feeds: tuple[FeedHealth, ...] | None
    documents: DocumentCounts | None
    alerts: AlertCounts | None
    runs: RunHistory | None
    lock: Mapping[str, Any] | None

    # -- views -------------------------------------------------------------------------
    def unhealthy_feeds(self) -> list[FeedHealth]:
        """Failing and backed-off feeds, the longest-failing first."""
        return sorted((f for f in self.feeds or () if f.health != HEALTHY),
                      key=lambda f: (-f.state.consecutive_failures, f.state.url))

    def lock_state(self) -> str | None:
        """Whether the lock is "held", or "stale" (expired: its holder stopped without
        releasing it); None when no run holds it."""
        if self.lock is None:
            return None
        expires = self.lock.get("expires_at")
        try:
            expired = bool(expires) and parse_time(str(expires)) <= self.generated_at
        except ValueError:
            expired = False  # an unreadable expiry is not evidence that the holder died
        return "stale" if expired else "held"

    def as_dict(self) -> dict[str, Any]:
        feeds = None
        if self.feeds is not None:
            counts = Counter(f.health for f in self.feeds)
            healthy = sorted((f for f in self.feeds if f.health == HEALTHY),
                             key=lambda f: f.state.url)
            feeds = {"known": len(self.feeds), "healthy": counts[HEALTHY],
                     "failing": counts[FAILING], "backed_off": counts[BACKED_OFF],
                     "items": [f.as_dict() for f in self.unhealthy_feeds() + healthy]}
        lock = None
        if self.lock is not None:
            lock = {**self.lock, "state": self.lock_state()}
        return {
            "alias": self.alias,
            "generated_at": format_time(self.generated_at),
            "days": self.days,
            "lock": lock,
            "runs": None if self.runs is None else {
                "last": self.runs.last, "last_indexed": self.runs.last_indexed,
                "in_window": dict(self.runs.in_window)},
            "feeds": feeds,
            "documents": None if self.documents is None else asdict(self.documents),
            "alerts": None if self.alerts is None else {
                **asdict(self.alerts), "by_status": dict(self.alerts.by_status)},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)

    def to_text(self) -> str:
        lines = [f"libya-watch status of '{self.alias}' at {format_time(self.generated_at)} "
                 f"(times in UTC; today is {self.generated_at.date().isoformat()})", ""]
        lines += self._lock_lines()
        lines += self._run_lines()
        lines += self._feed_lines()
        lines += self._document_lines()
        lines += self._alert_lines()
        return "\n".join(lines)

    # -- text sections ---------------------------------------------------------------------
    def _lock_lines(self) -> list[str]:
        state = self.lock_state()
        if state is None:
            return ["lock       free (no run holds it)"]
        lock = self.lock or {}
        holder = (f"run {lock.get('owner', '?')} ({lock.get('command') or 'unknown command'} "
                  f"on {lock.get('host', '?')}, pid {lock.get('pid', '?')}) since "
                  f"{lock.get('acquired_at', '?')}")
        if state == "stale":
            return [f"lock       STALE: held by {holder}, expired {lock.get('expires_at')} "
                    f"(its holder stopped without releasing it; the next run takes it over)"]
        renewed = f", renewed {lock['renewed_at']}" if lock.get("renewed_at") else ""
        return [f"lock       held by {holder}{renewed}, lease until {lock.get('expires_at', '?')}"]

    def _run_lines(self) -> list[str]:
        runs = self.runs
        if runs is None or runs.last is None:
            return ["last run   no runs yet"]
        last = runs.last
        lines = [f"last run   {last.get('run_id')}: {self._run_state(last)}"]
        if runs.last_indexed is not None:
            if runs.last_indexed is not last:
                lines.append(f"           the last run that indexed: "
                             f"{runs.last_indexed.get('run_id')}, indexed "
                             f"{runs.last_indexed.get('indexed_at')}")
            lines += ["           " + line for line in _summary_lines(
                runs.last_indexed.get("summary") or {})]
        if runs.in_window:
            total = sum(runs.in_window.values())
            lines.append(f"runs       {total} started in the last {self._days_phrase()}: "
                         + ", ".join(f"{n} {status}" for status, n
                                     in sorted(runs.in_window.items())))
        return lines

    def _run_state(self, run: Mapping[str, Any]) -> str:
        status = run.get("status")
        started = f"started {run.get('started_at')}"
        if status == "started":
            holder = self.lock if self.lock_state() == "held" else None
            if holder is not None and holder.get("owner") == run.get("run_id"):
                return f"running now ({started})"
            return f"started, not finished ({started}; still running, or it stopped early)"
        if status == "indexed":
            return (f"indexed, alerts not done yet ({started}, indexed {run.get('indexed_at')}; "
                    f"the next run sends them)")
        if status == "done":
            finished = run.get("alerts_at") or run.get("indexed_at")
            return f"done ({started}, finished {finished})"
        return f"{status} ({started})"

    def _feed_lines(self) -> list[str]:
        if self.feeds is None:
            return ["feeds      no feed checked yet"]
        unhealthy = self.unhealthy_feeds()
        healthy = [f for f in self.feeds if f.health == HEALTHY]
        counts = Counter(f.health for f in unhealthy)
        lines = [f"feeds      {len(self.feeds)} known: {len(healthy)} healthy, "
                 f"{counts[FAILING]} failing, {counts[BACKED_OFF]} backed off"]
        for feed in unhealthy:
            lines += _unhealthy_lines(feed)
        if healthy:
            checked = sorted(f.state.last_checked for f in healthy if f.state.last_checked)
            line = f"  {_plural(len(healthy), 'healthy feed')}"
            if checked:
                line += (f", last checked {checked[0]}" if checked[0] == checked[-1]
                         else f", last checked between {checked[0]} and {checked[-1]}")
            waiting = Counter(f.state.not_before_reason or "schedule"
                              for f in healthy if f.waiting)
            if waiting:
                line += (f"; {sum(waiting.values())} not due yet ("
                         + ", ".join(f"{reason} {n}" for reason, n in sorted(waiting.items()))
                         + ")")
            lines.append(line)
        return lines

    def _document_lines(self) -> list[str]:
        docs = self.documents
        if docs is None:
            return ["documents  no documents indexed yet"]
        last = f", last indexed {docs.last_indexed_at}" if docs.last_indexed_at else ""
        copies = docs.total - docs.stories
        lines = [f"documents  {docs.total} in total: {_plural(docs.stories, 'stor', 'y', 'ies')}, "
                 f"{_plural(copies, 'near-duplicate cop', 'y', 'ies')}{last}",
                 f"  indexed per UTC day, the last {self._days_phrase()}:",
                 f"  {'day':<10}  {'documents':>9}  {'stories':>7}"]
        today = self.generated_at.date().isoformat()
        for day in docs.days:
            mark = "  today" if day.day == today else ""
            lines.append(f"  {day.day:<10}  {day.documents:>9}  {day.stories:>7}{mark}")
        return lines

    def _alert_lines(self) -> list[str]:
        alerts = self.alerts
        if alerts is None:
            return ["alerts     no alerts yet"]
        by_status = dict(alerts.by_status)
        if not by_status:
            return ["alerts     no alerts yet"]
        order = ["sent", "pending", "failed"]
        parts = [f"{by_status.pop(status)} {status}" for status in order if status in by_status]
        parts += [f"{n} {status}" for status, n in sorted(by_status.items())]
        lines = [f"alerts     {', '.join(parts)}; {alerts.matched_in_window} matched in the last "
                 f"{self._days_phrase()}"]
        if alerts.oldest_pending:
            lines.append(f"  oldest pending alert matched {alerts.oldest_pending}; pending "
                         "alerts are sent again by the next run")
        for failure in alerts.notifier_failures:
            sample = (f" of the {alerts.pending_read} oldest pending"
                      if alerts.pending_read < dict(alerts.by_status).get("pending", 0) else "")
            lines.append(f"  notifier {failure.notifier}: failed for "
                         f"{_plural(failure.alerts, 'alert')}{sample}, last at "
                         f"{failure.last_failed_at}: {failure.last_error}")
        return lines

    def _days_phrase(self) -> str:
        return "day (today)" if self.days == 1 else f"{self.days} days"


def _plural(count: int, stem: str, one: str = "", many: str = "s") -> str:
    return f"{count} {stem}{one if count == 1 else many}"


def _unhealthy_lines(feed: FeedHealth) -> list[str]:
    state = feed.state
    if feed.health == BACKED_OFF:
        reason = f" ({state.not_before_reason})" if state.not_before_reason else ""
        head = f"  BACKED OFF until {state.not_before}{reason}: {state.url}"
    else:
        head = f"  FAILING    {state.url}"
    http = f", HTTP {state.last_http_status}" if state.last_http_status else ""
    detail = (f"    {_plural(state.consecutive_failures, 'failure')} in a row{http}; "
              f"last success {state.last_success or 'never'}; last checked {state.last_checked}")
    error = (state.last_error or "no message").removeprefix(f"{state.url}: ")
    return [head, detail, f"    error: {error}"]


def _summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """A run's stored figures (`RunSummary.figures()`), in a few lines; absent figures read 0."""
    if not summary:
        return ["(no figures recorded)"]
    feeds = summary.get("feeds") or {}
    dups = summary.get("duplicates") or {}
    errors = summary.get("errors") or {}
    lines = [
        f"feeds {feeds.get('ok', 0)} ok, {feeds.get('not_modified', 0)} not modified, "
        f"{feeds.get('failed', 0)} failed"
        + (f", {feeds['not_due']} not due yet" if feeds.get("not_due") else "")
        + f"; entries {summary.get('entries_seen', 0)} seen, "
        f"{summary.get('relevant', 0)} relevant, {summary.get('irrelevant', 0)} not about Libya",
        f"indexed {_plural(summary.get('indexed', 0), 'new document')} "
        f"({_plural(summary.get('near_duplicates', 0), 'near-duplicate cop', 'y', 'ies')}); "
        f"duplicates "
        f"{dups.get('in_run', 0)} within the run, {dups.get('already_indexed', 0)} already "
        f"indexed; {errors.get('index', 0)} refused by the index, "
        f"{errors.get('dead_letters', 0)} dead letters; {summary.get('seconds', 0)} s",
    ]
    alerts = summary.get("alerts")
    if alerts:
        lines.append(f"alerts {alerts.get('new', 0)} new of {alerts.get('matched', 0)} matched, "
                     f"{alerts.get('still_pending', 0)} still pending after the run")
    return lines


def collect_status(client: Elasticsearch, alias: str, days: int = 7, *,
                   now: datetime | None = None) -> StatusReport:
    """Reads every index of `alias` once; `days` counts today (UTC) and the days before it."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"must be between 1 and {MAX_DAYS}, got {days}", where="--days")
    validate_index_name(alias)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    last_day = now.date()
    first_day = last_day - timedelta(days=days - 1)
    states = read_feed_states(client, alias)
    return StatusReport(
        alias=alias,
        generated_at=now,
        days=days,
        feeds=None if states is None else tuple(feed_health(s, now) for s in states),
        documents=read_document_counts(client, alias, first_day, last_day),
        alerts=read_alert_counts(client, alias, first_day),
        runs=read_runs(client, alias, first_day),
        lock=read_lock(client, alias),
    )

