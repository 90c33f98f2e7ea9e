"""`libya-watch status` over real passes: feed health, documents per day, alerts, runs, the lock."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from connectors.runlock import RunLock
from connectors.runlog import RunLog
from connectors.schedule import format_time, parse_time
from connectors.state import FeedState, FeedStateStore
from pipeline.cli import main
from pipeline.launch import run_pass
from pipeline.status import StatusReport, collect_status, feed_health
from pipeline.summary import RunSummary
from tests.conftest import delete_everything_named
from tests.feedfactory import rss
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.feedserver import FeedServer, Reply
from tests.wirestory import COPY, ORIGINAL
from transforms.model import FetchOutcome

# ORIGINAL comes in the first pass and its rewritten COPY in the second.
TURKEY = {"title": "Turkey sends drones and advisers to the GNA in Tripoli",
          "link": "http://wire.example/2020/05/20/turkey-gna",
          "published": "2020-05-20T11:00:00Z",
          "body": "Turkey is supplying the Government of National Accord in Tripoli, Libya, with "
                  "drones, air defences and advisers, officials in Ankara said."}
EGYPT = {"title": "Egypt and the UAE back Haftar's Libyan National Army",
         "link": "http://flaky.example/2020/06/09/egypt-uae-haftar",
         "published": "2020-06-09T07:20:00Z",
         "body": "Egypt and the United Arab Emirates have lent support to Haftar's forces in "
                 "eastern Libya, diplomats in Cairo said."}


@dataclass
class Watched:
    """A module's worth of real passes: the alias, the feed URLs, and status after each pass."""

    alias: str
    wire: str
    flaky: str
    throttled: str
    first: RunSummary
    second: RunSummary
    after_first: StatusReport
    after_second: StatusReport


def _feeds_file(path: Path, *urls: str) -> Path:
    lines = ["settings:", "  timeout: 10", "  retries: 0", "feeds:"]
    lines += [f"  - url: {url}\n    name: Feed {i}" for i, url in enumerate(urls)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rules_file(path: Path, hook: str, out: Path) -> Path:
    path.write_text(
        "rules:\n"
        "  - id: wagner\n    actors: [wagner_group]\n    query: \"*\"\n"
        "  - id: turkey\n    actors: [turkey]\n    query: \"*\"\n"
        "notifiers:\n"
        f"  - type: jsonl\n    path: {out}\n"
        f"  - type: webhook\n    name: desk-hook\n    url: {hook}\n    retries: 0\n"
        "    timeout: 5\n",
        encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def watched(es_server, es_client: Elasticsearch,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """Two passes. In the first, one feed answers 500, one 503 + Retry-After, and the webhook
    refuses the alerts; in the second, the 500 feed and the webhook have recovered and a
    copy of a story arrives."""
    alias = f"lw-test-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("status")
    try:
        # The webhook refuses the first alert (the notifier then stops trying), then accepts all.
        with FeedServer() as server, WebhookReceiver(500, 200) as hook:
            wire = server.route("/wire.xml", Reply(body=rss([ORIGINAL, TURKEY])),
                                Reply(body=rss([ORIGINAL, TURKEY, COPY])))
            flaky = server.route("/flaky.xml", Reply(status=500),
                                 Reply(body=rss([EGYPT], title="Flaky")))
            throttled = server.route("/throttled.xml",
                                     Reply(status=503, headers={"Retry-After": "3600"}))
            feeds = _feeds_file(tmp / "feeds.yaml", wire, flaky, throttled)
            rules = _rules_file(tmp / "rules.yaml", hook.url, tmp / "alerts.jsonl")
            first = run_pass(feeds, es_server.url, alias, [], rules=rules)
            after_first = collect_status(es_client, alias)
            second = run_pass(feeds, es_server.url, alias, [], rules=rules)
            after_second = collect_status(es_client, alias)
        yield Watched(alias, wire, flaky, throttled, first, second, after_first, after_second)
    finally:
        delete_everything_named(es_client, alias)


def _feed(report: StatusReport, url: str):
    return next(f for f in report.feeds or () if f.state.url == url)


# -- feed health ---------------------------------------------------------------------------


@pytest.mark.es
def test_a_failing_feed_shows_its_error_and_failures_in_a_row(watched: Watched) -> None:
    report = watched.after_first
    flaky = _feed(report, watched.flaky)
    assert flaky.health == "failing"
    assert flaky.state.consecutive_failures == 1
    assert flaky.state.last_http_status == 500
    assert flaky.state.last_success is None
    text = report.to_text()
    assert f"FAILING    {watched.flaky}" in text
    assert "1 failure in a row, HTTP 500; last success never" in text
    assert "error: HTTP 500" in text
    assert "feeds      3 known: 1 healthy, 1 failing, 1 backed off" in text


@pytest.mark.es
def test_a_feed_that_asked_to_wait_after_failing_is_backed_off_until_then(
        watched: Watched) -> None:
    report = watched.after_first
    throttled = _feed(report, watched.throttled)
    assert throttled.health == "backed_off"
    until = parse_time(throttled.state.not_before or "")
    assert until - report.generated_at > timedelta(minutes=50)
    assert f"BACKED OFF until {throttled.state.not_before} (retry-after): {watched.throttled}" \
        in report.to_text()


@pytest.mark.es
def test_unhealthy_feeds_come_first_and_healthy_ones_in_one_line(watched: Watched) -> None:
    lines = watched.after_first.to_text().splitlines()
    healthy = next(i for i, line in enumerate(lines) if "1 healthy feed," in line)
    unhealthy = [i for i, line in enumerate(lines) if watched.flaky in line or
                 watched.throttled in line]
    assert unhealthy and max(unhealthy) < healthy
    assert not any(watched.wire in line for line in lines), "healthy feeds are only counted"
    items = json.loads(watched.after_first.to_json())["feeds"]["items"]
    assert [i["url"] for i in items][:2] == sorted([watched.flaky, watched.throttled])
    assert items[-1]["url"] == watched.wire and items[-1]["health"] == "healthy"


@pytest.mark.es
def test_a_feed_that_recovers_is_healthy_again(watched: Watched) -> None:
    report = watched.after_second
    flaky = _feed(report, watched.flaky)
    assert flaky.health == "healthy"
    assert flaky.state.consecutive_failures == 0 and flaky.state.last_error is None
    assert flaky.state.last_success is not None
    text = report.to_text()
    assert watched.flaky not in text
    assert "2 healthy feeds" in text
    assert _feed(report, watched.throttled).health == "backed_off"


# -- documents, alerts, runs --------------------------------------------------------------------


@pytest.mark.es
def test_documents_and_stories_per_day_count_what_was_indexed(
        watched: Watched, es_client: Elasticsearch) -> None:
    assert (watched.after_first.documents.total, watched.after_first.documents.stories) == (2, 2)
    docs = watched.after_second.documents
    assert (docs.total, docs.stories) == (4, 3)  # the copy is a document, not a story
    es_client.indices.refresh(index=watched.alias)
    hits = es_client.search(index=watched.alias, size=100,
                            source=["indexed_at", "duplicate_of"])["hits"]["hits"]
    expected_docs = Counter(h["_source"]["indexed_at"][:10] for h in hits)
    expected_stories = Counter(h["_source"]["indexed_at"][:10] for h in hits
                               if not h["_source"].get("duplicate_of"))
    assert {d.day: d.documents for d in docs.days if d.documents} == dict(expected_docs)
    assert {d.day: d.stories for d in docs.days if d.stories} == dict(expected_stories)
    today = watched.after_second.generated_at.date()
    assert [d.day for d in docs.days] == [(today - timedelta(days=n)).isoformat()
                                          for n in range(6, -1, -1)]
    text = watched.after_second.to_text()
    assert "documents  4 in total: 3 stories, 1 near-duplicate copy" in text
    assert f"  {today.isoformat()}  " in text and text.count("  today") == 1


@pytest.mark.es
def test_alerts_wait_while_a_notifier_fails_and_are_sent_once_it_recovers(
        watched: Watched) -> None:
    first = watched.after_first.alerts
    assert first is not None and dict(first.by_status) == {"pending": 2}  # wagner, turkey
    (failure,) = first.notifier_failures
    assert failure.notifier == "desk-hook" and failure.alerts == 2
    assert "500" in (failure.last_error or "")
    text = watched.after_first.to_text()
    assert "alerts     2 pending" in text
    assert "notifier desk-hook: failed for 2 alerts" in text and "oldest pending alert" in text

    second = watched.after_second.alerts
    assert second is not None and dict(second.by_status) == {"sent": 2}
    assert second.notifier_failures == ()
    assert "alerts     2 sent;" in watched.after_second.to_text()


@pytest.mark.es
def test_the_last_run_and_its_figures_appear(watched: Watched) -> None:
    runs = watched.after_second.runs
    assert runs is not None and runs.last is not None
    assert runs.last["run_id"] == watched.second.run_id and runs.last["status"] == "done"
    assert runs.last["summary"]["indexed"] == watched.second.count("indexed") == 2
    assert runs.in_window == {"done": 2}
    text = watched.after_second.to_text()
    assert f"last run   {watched.second.run_id}: done" in text
    assert "indexed 2 new documents (1 near-duplicate copy)" in text
    assert "feeds 2 ok" in text
    assert "runs       2 started in the last 7 days: 2 done" in text
    assert "lock       free" in text


# -- the command ----------------------------------------------------------------------------


@pytest.mark.es
def test_status_command_prints_the_report(watched: Watched, es_server,
                                          capsys: pytest.CaptureFixture) -> None:
    assert main(["status", "--es", es_server.url, "--index", watched.alias, "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert "BACKED OFF until" in out and watched.throttled in out
    assert "indexed per UTC day, the last 3 days:" in out
    assert len([line for line in out.splitlines() if line.startswith("  20")]) == 3

    assert main(["status", "--es", es_server.url, "--index", watched.alias, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["feeds"]["known"] == 3 and len(data["feeds"]["items"]) == 3
    assert data["runs"]["last"]["run_id"] == watched.second.run_id
    assert data["documents"]["total"] == 4


@pytest.mark.es
def test_status_of_a_fresh_alias_says_nothing_yet_and_exits_0(
        es_server, es_client: Elasticsearch, es_alias: str,
        capsys: pytest.CaptureFixture) -> None:
    report = collect_status(es_client, es_alias)
    assert (report.feeds, report.documents, report.alerts, report.runs, report.lock) == \
        (None, None, None, None, None)
    assert main(["status", "--es", es_server.url, "--index", es_alias]) == 0
    out = capsys.readouterr().out
    for phrase in ("last run   no runs yet", "feeds      no feed checked yet",
                   "documents  no documents indexed yet", "alerts     no alerts yet",
                   "lock       free"):
        assert phrase in out
    assert main(["status", "--es", es_server.url, "--index", es_alias, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"] is None and data["feeds"] is None and data["alias"] == es_alias


@pytest.mark.es
def test_bad_days_is_a_one_line_error(es_server, es_alias: str,
                                      capsys: pytest.CaptureFixture) -> None:
    assert main(["status", "--es", es_server.url, "--index", es_alias, "--days", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--days" in err


# -- many feeds, and the lock --------------------------------------------------------------------


@pytest.mark.es
def test_two_thousand_feeds_list_only_the_unhealthy_ones(
        es_client: Elasticsearch, es_alias: str) -> None:
    now = format_time(datetime.now(timezone.utc))
    outcomes = [FetchOutcome(feed_url=f"http://feeds.example/{n:04d}.xml", status="ok",
                             http_status=200, fetched_at=now) for n in range(2000)]
    outcomes += [FetchOutcome(feed_url=f"http://down.example/{n}.xml", status="failed",
                              http_status=404, error=f"http://down.example/{n}.xml: HTTP 404",
                              fetched_at=now) for n in range(2)]
    FeedStateStore(es_client, es_alias).record(outcomes, run_id="bulk")
    es_client.indices.refresh(index=f"{es_alias}-state")
    report = collect_status(es_client, es_alias)
    text = report.to_text()
    assert "2002 known: 2000 healthy, 2 failing, 0 backed off" in text
    assert "2000 healthy feeds" in text
    assert "feeds.example" not in text and text.count("FAILING") == 2
    assert len(text.splitlines()) < 40
    items = json.loads(report.to_json())["feeds"]["items"]
    assert len({item["url"] for item in items}) == 2002  # paged past the first 1000


@pytest.mark.es
def test_the_lock_holder_is_shown_and_an_expired_lock_is_stale(
        es_client: Elasticsearch, es_alias: str) -> None:
    runs = RunLog(es_client, es_alias)
    runs.ensure()
    runs.started("run-0")
    runs.indexed("run-0", RunSummary(run_id="run-0", counters={"indexed": 5, "feeds_ok": 3},
                                     seconds=2.0).figures())
    runs.alerts_done(["run-0"])
    runs.started("run-1")
    lock = RunLock(es_client, es_alias, owner="run-1", command="watch", lease_s=600)
    lock.acquire()
    try:
        text = collect_status(es_client, es_alias).to_text()
        assert (f"lock       held by run run-1 (watch on {socket.gethostname()}, "
                f"pid {os.getpid()}) since") in text
        assert "last run   run-1: running now" in text
        assert "the last run that indexed: run-0" in text
        assert "feeds 3 ok" in text and "indexed 5 new documents" in text

        # The same lock seen an hour later: its lease ran out without being renewed.
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        report = collect_status(es_client, es_alias, now=later)
        assert report.lock_state() == "stale"
        text = report.to_text()
        assert "lock       STALE: held by run run-1" in text
        assert "last run   run-1: started, not finished" in text
    finally:
        lock.release()
    assert "lock       free" in collect_status(es_client, es_alias).to_text()


# -- pure ------------------------------------------------------------------------------------


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_feed_health_verdicts() -> None:
    later, earlier = "2024-05-01T13:00:00Z", "2024-05-01T11:00:00Z"
    assert feed_health(FeedState(url="u"), NOW).health == "healthy"
    assert feed_health(FeedState(url="u", consecutive_failures=2), NOW).health == "failing"
    backed = feed_health(FeedState(url="u", consecutive_failures=4, not_before=later,
                                   not_before_reason="backoff"), NOW)
    assert backed.health == "backed_off"
    assert feed_health(FeedState(url="u", consecutive_failures=4, not_before=earlier),
                       NOW).health == "failing"
    waiting = feed_health(FeedState(url="u", not_before=later, not_before_reason="ttl"), NOW)
    assert waiting.health == "healthy" and waiting.waiting
    assert not feed_health(FeedState(url="u", not_before=earlier), NOW).waiting
