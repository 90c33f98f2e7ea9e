"""The figures of one pass, read from the pipeline's counters, for people and for machines."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from transforms.metrics import NAMESPACE

__all__ = ["RunSummary", "FailedFeed", "read_counters", "STAGES"]

STAGES = ("fetch", "parse", "normalize", "relevance", "dedup", "actors", "claims", "stories",
          "index", "state")


@dataclass(frozen=True)
class FailedFeed:
    url: str
    error: str
    http_status: int | None = None


@dataclass
class RunSummary:
    """One pass: feeds, entries through each stage, and where the time went."""

    run_id: str
    counters: dict[str, int]
    seconds: float
    failed_feeds: list[FailedFeed] = field(default_factory=list)
    alerts: Any = None  # the alert step's report, when rules were given
    ran_pipeline: bool = True  # False when no feed was due or (watch) none had changed

    def count(self, name: str) -> int:
        return self.counters.get(name, 0)

    def stage_seconds(self) -> dict[str, float]:
        return {stage: round(self.count(f"{stage}_us") / 1e6, 3) for stage in STAGES
                if f"{stage}_us" in self.counters}

    def figures(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "feeds": {"ok": self.count("feeds_ok"), "not_modified": self.count("feeds_not_modified"),
                      "failed": self.count("feeds_failed"), "bozo": self.count("feeds_bozo"),
                      "not_due": self.count("feeds_not_due"),
                      "held_back": self.count("feeds_held_back")},
            "entries_seen": self.count("entries_seen"),
            "normalize_failed": self.count("normalize_failed"),
            "relevant": self.count("relevant"),
            "irrelevant": self.count("irrelevant"),
            "duplicates": {"in_run": self.count("duplicates_url") + self.count("duplicates_text"),
                           "already_indexed": self.count("already_indexed")},
            "indexed": self.count("indexed"),
            "errors": {"index": self.count("index_errors"), "dead_letters": self.count("dead_letters")},
            "seconds": round(self.seconds, 3),
            "stage_seconds": self.stage_seconds(),
            "failed_feeds": [asdict(f) for f in self.failed_feeds],
            "near_duplicates": self.count("near_duplicates"),
            "slices": self.count("slices"),
            "alerts": None if self.alerts is None else {
                "runs": list(self.alerts.run_ids), "matched": self.alerts.matched,
                "new": len(self.alerts.new), "still_pending": self.alerts.delivery.still_pending},
        }

    def one_line(self) -> str:
        """The pass in one line, for the watcher's output."""
        f = self.figures()
        feeds = f["feeds"]
        line = (f"run {self.run_id}: feeds {feeds['ok']} new, {feeds['not_modified']} unchanged, "
                f"{feeds['failed']} failed, {feeds['not_due']} not due; "
                f"{f['indexed']} documents indexed in {self.seconds:.1f} s")
        if self.alerts is not None:
            line += (f"; alerts {len(self.alerts.new)} new, "
                     f"{self.alerts.delivery.still_pending} pending")
        return line

    def to_json(self) -> str:
        return json.dumps(self.figures(), indent=2, sort_keys=True)

    def to_text(self) -> str:
        f = self.figures()
        feeds, dups, errors = f["feeds"], f["duplicates"], f["errors"]
        slices = f" in {f['slices']} slices" if f["slices"] > 1 else ""
        lines = [
            f"run {self.run_id}: {self.seconds:.1f} s{slices}",
            f"feeds      {feeds['ok']} ok, {feeds['not_modified']} not modified, "
            f"{feeds['failed']} failed ({feeds['bozo']} malformed but usable)"
            + (f", {feeds['not_due']} not due yet" if feeds["not_due"] else ""),
            f"entries    {f['entries_seen']} seen, {f['relevant']} relevant, "
            f"{f['irrelevant']} not about Libya, {f['normalize_failed']} unusable",
            f"duplicates {dups['in_run']} within the run, {dups['already_indexed']} already indexed, "
            f"{f['near_duplicates']} near-duplicate copies joined a story",
            f"indexed    {f['indexed']} new documents, {errors['index']} refused by the index, "
            f"{errors['dead_letters']} dead letters",
        ]
        if f["stage_seconds"]:
            lines.append("stages     " + ", ".join(f"{k} {v:.2f} s"
                                                  for k, v in f["stage_seconds"].items()))
        if feeds["held_back"]:
            lines.append(f"held back  {feeds['held_back']} feeds keep their old validators "
                         "(some entries were refused); the next run retries them")
        if self.alerts is not None:
            lines.append(self.alerts.to_text())
        for failed in self.failed_feeds:
            status = f" [{failed.http_status}]" if failed.http_status else ""
            error = failed.error.removeprefix(f"{failed.url}: ")
            lines.append(f"failed     {failed.url}{status}: {error}")
        return "\n".join(lines)


def read_counters(result: Any) -> dict[str, int]:
    """The project's counters from a finished pipeline (committed, else attempted)."""
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    totals: dict[str, int] = {}
    for metric in query["counters"]:
        value = metric.committed if metric.committed is not None else metric.attempted
        name = metric.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals
