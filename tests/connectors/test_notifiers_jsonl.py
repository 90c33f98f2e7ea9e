"""The JSON-lines notifier: one line per alert, never the same alert twice, even across crashes."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.alerting.model import Alert
from connectors.notifiers.jsonl import JsonlNotifier, JsonlSettings, ids_in_file

FIELDS = {"alert_id", "rule_id", "rule_name", "story_id", "doc_id", "title", "url", "published",
          "outlet", "run_id", "matched_at"}


def alert(n: int) -> Alert:
    return Alert(rule_id="claims", rule_name="New claim", story_id=f"story-{n}", doc_id=f"doc-{n}",
                 title=f"Ливия {n}", url=f"https://news.example.org/{n}",
                 published="2025-03-01T10:00:00Z", matched_at="2025-03-01T11:00:00Z")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_alert_is_written_once_even_when_sent_twice(tmp_path: Path) -> None:
    path = tmp_path / "out" / "alerts.jsonl"
    notifier = JsonlNotifier(JsonlSettings(path))
    first = notifier.send([alert(1), alert(2)])
    again = notifier.send([alert(2), alert(3), alert(1)])
    assert all(r.ok for r in first + again)
    records = lines(path)
    assert [r["story_id"] for r in records] == ["story-1", "story-2", "story-3"]
    assert set(records[0]) == FIELDS
    assert records[0]["alert_id"] == alert(1).id and records[0]["title"] == "Ливия 1"


def test_a_line_cut_off_by_a_crash_is_written_again_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    JsonlNotifier(JsonlSettings(path)).send([alert(1)])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(alert(2).to_record())[:40])  # the process died mid-line
    assert ids_in_file(path) == {alert(1).id}
    JsonlNotifier(JsonlSettings(path)).send([alert(1), alert(2)])
    text = path.read_text(encoding="utf-8").splitlines()
    assert len(text) == 3 and json.loads(text[2])["story_id"] == "story-2"


def test_an_unwritable_file_fails_every_alert(tmp_path: Path) -> None:
    path = tmp_path / "a-directory"
    path.mkdir()
    results = JsonlNotifier(JsonlSettings(path)).send([alert(1), alert(2)])
    assert [r.ok for r in results] == [False, False]
    assert results[0].error.startswith(f"jsonl {path}:")


def test_relative_paths_are_relative_to_the_rules_file(tmp_path: Path) -> None:
    settings = JsonlNotifier.settings_from({"path": "out/alerts.jsonl"}, base_dir=tmp_path)
    assert settings.path == tmp_path / "out" / "alerts.jsonl"
