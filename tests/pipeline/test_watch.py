"""`libya-watch watch`: new items indexed and alerted within an interval, clean stops, one run at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from connectors.runlock import lock_index_name
from pipeline.cli import main
from pipeline.watch import WatchOptions, watch
from tests.feedfactory import rss
from tests.feedserver import FeedServer, Reply
from tests.livefeed import LiveFeed, wagner_item

pytestmark = pytest.mark.es

REPO = Path(__file__).resolve().parents[2]


def write_feeds(tmp_path: Path, *urls: str, settings: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    lines = ["settings:", "  timeout: 20", "  retries: 0", *settings.splitlines(), "feeds:"]
    lines += [f"  - url: {url}" for url in urls]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def indexed_urls(client: Elasticsearch, alias: str) -> list[str]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, size=1000, source=["url"])["hits"]["hits"]
    return sorted(hit["_source"]["url"] for hit in hits)


def alerted_urls(path: Path, rule: str = "wagner-africa-corps-libya") -> list[str]:
    """The URLs the packaged Wagner rule alerted on, in order (other rules may fire too)."""
    if not path.exists():
        return []
    alerts = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [alert["url"] for alert in alerts if alert["rule_id"] == rule]


def wait_for(condition, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def test_an_item_added_while_watching_is_indexed_and_alerted_within_an_interval(
        es_client, es_server, es_alias, tmp_path) -> None:
    interval = 2.0
    live = LiveFeed([wagner_item(0)])
    alerts_out = tmp_path / "alerts.jsonl"
    with FeedServer() as server:
        feeds = write_feeds(tmp_path, server.route("/live.xml", live))
        options = WatchOptions(feeds_path=feeds, es_url=es_server.url, alias=es_alias,
                               interval=interval, alerts_out=alerts_out)
        passes: list = []
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(options, passes.append, stop))
        watcher.start()
        try:
            wait_for(lambda: len(passes) >= 2, 120, "two passes")
            assert alerted_urls(alerts_out) == [wagner_item(0)["link"]]
            item = wagner_item(1)
            live.add(item)
            wait_for(lambda: item["link"] in alerted_urls(alerts_out), 60, "the new alert")
            latency = time.monotonic() - live.added_at[item["link"]]
        finally:
            stop.set()
            watcher.join(timeout=120)
    assert not watcher.is_alive()
    print(f"\nalert latency at --interval {interval:g}: {latency:.2f} s")
    # Generous: one interval to be seen, plus one small pass (pipeline and alert step).
    assert latency < interval + 30
    assert indexed_urls(es_client, es_alias) == sorted(i["link"] for i in (wagner_item(0), item))
    assert alerted_urls(alerts_out) == [wagner_item(0)["link"], item["link"]]
    assert not es_client.options(ignore_status=404).get(
        index=lock_index_name(es_alias), id="run").get("found")


def test_sigterm_mid_pass_finishes_the_pass_and_a_restart_loses_nothing(
        es_client, es_server, es_alias, tmp_path) -> None:
    live = LiveFeed([wagner_item(i) for i in range(3)])
    slow_items = [{**wagner_item(100 + i), "link": f"http://slow.example/{i}"} for i in range(2)]
    slow_body = rss(slow_items, title="Slow Wire")
    with FeedServer() as server:
        # The slow feed holds the first pass open long enough to be interrupted inside it.
        slow = server.route("/slow.xml", Reply(body=slow_body, delay=4.0), Reply(body=slow_body))
        feeds = write_feeds(tmp_path, server.route("/live.xml", live), slow)
        args = ["watch", "--feeds", str(feeds), "--es", es_server.url, "--index", es_alias,
                "--interval", "1", "--no-tag"]
        watcher = cli(*args)
        wait_for(lambda: server.requests("/slow.xml"), 120, "the slow feed to be asked")
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=120)
        assert watcher.returncode == 0, err
        assert len(server.requests("/slow.xml")) == 1  # no second pass began
        expected = sorted([i["link"] for i in live._items] + [i["link"] for i in slow_items])
        assert indexed_urls(es_client, es_alias) == expected
        # New items while it was down; the restart picks them up, and nothing twice.
        for number in (3, 4):
            live.add(wagner_item(number))
        restarted = cli(*args, "--max-cycles", "1")
        out, err = restarted.communicate(timeout=180)
        assert restarted.returncode == 0, err
    urls = indexed_urls(es_client, es_alias)
    assert urls == sorted(expected + [wagner_item(3)["link"], wagner_item(4)["link"]])
    assert len(urls) == len(set(urls))


def test_a_second_run_exits_4_while_the_first_holds_the_lock(
        es_client, es_server, es_alias, tmp_path, capsys) -> None:
    body = rss([wagner_item(7)])
    with FeedServer() as server:
        feeds = write_feeds(tmp_path, server.route("/slow.xml", Reply(body=body, delay=5.0)))
        args = ["run", "--feeds", str(feeds), "--es", es_server.url, "--index", es_alias]
        first = cli(*args)
        wait_for(lambda: server.requests("/slow.xml"), 120, "the first run to fetch")
        code = main(args)
        err = capsys.readouterr().err.strip()
        out, first_err = first.communicate(timeout=120)
    assert code == 4
    assert len(err.splitlines()) == 1 and "another run holds the lock" in err, err
    assert first.returncode == 0, first_err
    assert indexed_urls(es_client, es_alias) == [wagner_item(7)["link"]]
    assert len(server.requests("/slow.xml")) == 1  # the refused run fetched nothing


def test_a_feed_that_keeps_failing_is_backed_off(es_client, es_server, es_alias, tmp_path,
                                                 capsys) -> None:
    with FeedServer() as server:
        broken = server.route("/broken.xml", Reply(status=500))
        feeds = write_feeds(tmp_path, broken, settings="  failures_before_backoff: 5\n"
                                                       "  failure_backoff: 3600")
        args = ["run", "--feeds", str(feeds), "--es", es_server.url, "--index", es_alias]
        for _ in range(5):
            assert main(args) == 0
        assert len(server.requests("/broken.xml")) == 5
        capsys.readouterr()
        assert main(args) == 0
        out = capsys.readouterr().out
        assert len(server.requests("/broken.xml")) == 5  # backed off: not asked again
        assert "1 not due yet" in out
        assert main(["status", "--es", es_server.url, "--index", es_alias]) == 0
        status = capsys.readouterr().out
        assert "0 failing, 1 backed off" in status
        feed_lines = [line for line in status.splitlines() if broken in line]
        assert feed_lines and "BACKED OFF until" in feed_lines[0] and "5 failures in a row" in status
        assert main([*args, "--ignore-schedule"]) == 0
        assert len(server.requests("/broken.xml")) == 6
    state = es_client.search(index=f"{es_alias}-state")["hits"]["hits"][0]["_source"]
    assert (state["consecutive_failures"], state["not_before_reason"]) == (6, "backoff")
    assert "500" in state["last_error"]


def test_a_cache_control_max_age_holds_a_feed_until_it_expires(es_client, es_server, es_alias,
                                                               tmp_path, capsys) -> None:
    live = LiveFeed([wagner_item(1)], **{"Cache-Control": "max-age=3600"})
    with FeedServer() as server:
        feeds = write_feeds(tmp_path, server.route("/cached.xml", live))
        args = ["run", "--feeds", str(feeds), "--es", es_server.url, "--index", es_alias,
                "--no-tag"]
        assert main(args) == 0
        assert main(args) == 0
        assert len(server.requests("/cached.xml")) == 1
        assert main([*args, "--ignore-schedule"]) == 0
        requests = server.requests("/cached.xml")
    assert len(requests) == 2 and requests[1].headers["if-none-match"] == '"v1"'
    state = es_client.search(index=f"{es_alias}-state")["hits"]["hits"][0]["_source"]
    assert state["not_before_reason"] == "cache-control"


def test_watch_with_json_logs_reports_each_pass_as_one_json_object(
        es_client, es_server, es_alias, tmp_path, capsys) -> None:
    live = LiveFeed([wagner_item(1)])
    with FeedServer() as server:
        feeds = write_feeds(tmp_path, server.route("/live.xml", live))
        code = main(["--log-format", "json", "watch", "--feeds", str(feeds), "--es", es_server.url,
                     "--index", es_alias, "--interval", "1", "--max-cycles", "2", "--no-tag"])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == ""  # machines read the log, not a text summary
    lines = [json.loads(line) for line in captured.err.splitlines()]
    passes = [line for line in lines if "summary" in line]
    assert len(passes) == 1  # the second pass found nothing new: logged at debug only
    assert passes[0]["summary"]["indexed"] == 1 and passes[0]["level"] == "info"
    assert lines[0]["message"] == "watching 1 feeds every 1 s"
    assert lines[-1]["message"] == "stopped after 2 passes"
