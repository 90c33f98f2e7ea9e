"""A pass killed while it notifies: the next pass delivers every alert, and none twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch

from connectors.alerting.rules import DEFAULT_RULES_FILE
from pipeline.cli import main
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.feedfactory import rss
from tests.feedserver import FeedServer, Reply

pytestmark = pytest.mark.es

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [
    {"title": "Wagner has up to 1,200 fighters in Libya, UN report says",
     "link": "http://wire.example/wagner-libya", "published": "2020-05-06T17:05:00Z",
     "body": "The Russian private military group Wagner has up to 1,200 people deployed in Libya "
             "to support Khalifa Haftar, according to a confidential UN report seen by Reuters."},
    {"title": "Africa Corps flights land at al-Jufra, Libya",
     "link": "http://wire.example/africa-corps-jufra", "published": "2024-03-02T09:00:00Z",
     "body": "Russian military cargo flights carrying Africa Corps personnel and armoured vehicles "
             "landed at the al-Jufra air base in central Libya, satellite images analysed by "
             "researchers showed."},
]


class HangingListener:
    """Accepts connections and never answers, so the client waits until it is killed."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/hook"

    def _accept(self) -> None:
        try:
            while True:
                connection, _ = self._socket.accept()
                self._held.append(connection)
                self.connected.set()
        except OSError:
            return

    def close(self) -> None:
        for connection in self._held:
            connection.close()
        self._socket.close()


def _rules_file(tmp_path: Path) -> Path:
    rules = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))["rules"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": rules, "notifiers": [
        {"type": "jsonl", "path": "alerts.jsonl"},
        {"type": "webhook", "name": "hook", "url_env": "TEST_HOOK_URL", "timeout": 60,
         "retries": 0}]}), encoding="utf-8")
    return path


def test_a_pass_killed_while_notifying_is_completed_by_the_next_without_duplicates(
        es_server, es_client: Elasticsearch, es_alias: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rules = _rules_file(tmp_path)
    jsonl = tmp_path / "alerts.jsonl"
    with FeedServer() as feeds_server:
        url = feeds_server.route("/wire.xml", Reply(body=rss(ITEMS)))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - url: {url}\n    name: Wire\n", encoding="utf-8")
        command = [sys.executable, "-m", "pipeline.cli", "run", "--feeds", str(feeds),
                   "--es", es_server.url, "--index", es_alias, "--rules", str(rules)]

        hanging = HangingListener()
        try:
            process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL,
                                       env={**os.environ, "TEST_HOOK_URL": hanging.url})
            try:
                assert hanging.connected.wait(120), "the pass never reached its webhook"
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(30)
        finally:
            hanging.close()
        assert process.returncode == -signal.SIGKILL

        es_client.indices.refresh(index=f"{es_alias}-alerts")
        recorded = es_client.search(index=f"{es_alias}-alerts", size=100)["hits"]["hits"]
        alert_ids = {hit["_id"] for hit in recorded}
        assert len(alert_ids) == 4, "both rules fire for both stories, recorded before sending"

        with WebhookReceiver(200) as receiver:
            monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
            assert main(command[3:]) == 0  # the next pass, in-process
            assert main(command[3:]) == 0  # and one more: nothing left to send
            accepted = receiver.accepted_keys()

    assert dict(accepted) == dict.fromkeys(alert_ids, 1), "each alert delivered exactly once"
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert sorted((line["rule_id"], line["story_id"]) for line in lines) == sorted(
        (hit["_source"]["rule_id"], hit["_source"]["story_id"]) for hit in recorded)
