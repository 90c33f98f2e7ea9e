"""The console notifier: one line per alert on standard output."""

from __future__ import annotations

import io

import pytest

from connectors.alerting.model import Alert
from connectors.notifiers.console import ConsoleNotifier


def alert(n: int, **changes) -> Alert:
    values = dict(rule_id="claims", rule_name="New claim", story_id=f"story-{n}",
                  doc_id=f"doc-{n}", title=f"Claim\n{n}", url=f"https://news.example.org/{n}",
                  published="2025-03-01T10:00:00Z", matched_at="2025-03-01T11:00:00Z",
                  outlet="Example News")
    values.update(changes)
    return Alert(**values)


def test_one_line_per_alert_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    results = ConsoleNotifier().send([alert(1), alert(2, outlet=None, url=None)])
    assert all(r.ok for r in results)
    assert capsys.readouterr().out.splitlines() == [
        "libya-watch alert: [New claim] Claim 1 (Example News, 2025-03-01T10:00:00Z) "
        "https://news.example.org/1",
        "libya-watch alert: [New claim] Claim 2 (2025-03-01T10:00:00Z)",
    ]


def test_a_closed_stream_fails_the_alerts() -> None:
    stream = io.StringIO()
    stream.close()
    results = ConsoleNotifier(stream=stream).send([alert(1)])
    assert not results[0].ok and results[0].error.startswith("console:")
