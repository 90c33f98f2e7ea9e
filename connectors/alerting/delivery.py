"""The alert step of a pass: match, record, then send what is pending, notifier by notifier.

The order is what makes alerts exactly-once per (rule, story) and
at-least-once per notifier:

1. the notifiers are opened first, so a missing secret fails before
   anything is recorded;
2. the rules are matched over the runs that still owe alerts, and the
   alerts recorded (create, 409 = fired before);
3. those runs are marked done: their alerts are safe in the index;
4. every pending alert (new, or left by a failed notifier or a crashed
   run) goes to each notifier that does not have it yet; each notifier's
   successes are recorded before the next notifier sends, and an alert
   every notifier has is closed.

A crash between a send and its record makes that notifier send again on
the next run: the JSON-lines notifier skips what its file holds, the
webhook carries an idempotency key, an email repeats its Message-ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch

from connectors.alerting.matching import match_rules
from connectors.alerting.model import Alert
from connectors.alerting.rules import AlertConfig
from connectors.alerting.store import (mark_done, mark_failed, mark_sent, pending_alerts,
                                       record_alerts)
from connectors.errors import PipelineFailed
from connectors.notifiers import Notifier, open_notifiers
from connectors.runlog import RunLog

__all__ = ["AlertReport", "DeliveryReport", "alert_pass", "deliver_pending"]


@dataclass
class DeliveryReport:
    """What each notifier did with the pending alerts of one pass."""

    pending: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    closed: int = 0

    @property
    def still_pending(self) -> int:
        return self.pending - self.closed


@dataclass
class AlertReport:
    """One pass of the alert step: the runs covered, the alerts found and new, and delivery."""

    run_ids: list[str]
    matched: int
    new: list[Alert]
    delivery: DeliveryReport

    def to_text(self) -> str:
        """A few lines for the run summary."""
        lines = [f"alerts: {len(self.new)} new ({self.matched} matches in "
                 f"{len(self.run_ids)} run{'s' if len(self.run_ids) != 1 else ''}), "
                 f"{self.delivery.pending} to send, {self.delivery.still_pending} still pending"]
        for name in sorted(set(self.delivery.sent) | set(self.delivery.failed)):
            failed = self.delivery.failed.get(name, [])
            line = f"  {name}: {self.delivery.sent.get(name, 0)} sent"
            if failed:
                line += f", {len(failed)} failed: {failed[0][1]}"
            lines.append(line)
        lines += [f"  warning: {warning}" for warning in self.delivery.warnings]
        return "\n".join(lines)


def deliver_pending(client: Elasticsearch, alias: str,
                    notifiers: Mapping[str, Notifier]) -> DeliveryReport:
    """Sends each pending alert to each notifier that does not have it yet."""
    alerts = pending_alerts(client, alias)
    report = DeliveryReport(pending=len(alerts))
    delivered = {alert.id: set(alert.delivered_to) for alert in alerts}
    for name, notifier in notifiers.items():
        todo = [alert for alert in alerts if name not in delivered[alert.id]]
        if not todo:
            continue
        results = notifier.send(todo)
        if [r.alert_id for r in results] != [a.id for a in todo]:
            raise PipelineFailed(f"notifier '{name}' returned results for other alerts "
                                 f"than it was given")
        sent = [r.alert_id for r in results if r.ok]
        mark_sent(client, alias, sent, name)
        failures = {r.alert_id: r.error or "failed" for r in results if not r.ok}
        mark_failed(client, alias, failures, name)
        for alert_id in sent:
            delivered[alert_id].add(name)
        report.sent[name] = len(sent)
        if failures:
            report.failed[name] = list(failures.items())
        report.warnings += [f"{name}: {r.error}" for r in results if r.ok and r.error]
    complete = [alert.id for alert in alerts if set(notifiers) <= delivered[alert.id]]
    mark_done(client, alias, complete)
    report.closed = len(complete)
    return report


def alert_pass(client: Elasticsearch, alias: str, config: AlertConfig, runs: RunLog, *,
               environ: Mapping[str, str] | None = None) -> AlertReport:
    """The whole alert step after a pass has indexed its documents (see the module doc)."""
    with open_notifiers(config.notifiers, environ=environ) as notifiers:
        run_ids = runs.runs_owing_alerts()
        matched = match_rules(client, alias, config.rules, run_ids)
        new = record_alerts(client, alias, matched)
        runs.alerts_done(run_ids)
        delivery = deliver_pending(client, alias, notifiers)
    return AlertReport(run_ids=run_ids, matched=len(matched), new=new, delivery=delivery)
