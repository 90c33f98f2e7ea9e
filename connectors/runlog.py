"""The run log: one document per pass in `<alias>-runs`, so work a crashed pass left undone is found again.

A pass is recorded when it starts, again when its documents are indexed
(with its summary), and once more when its alerts are done. A pass that
died after indexing but before alerting keeps `alerts_done: false`, and the
next pass evaluates the alert rules over its documents too: nothing indexed
ever misses its alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from elasticsearch import Elasticsearch

from connectors.es_client import client_url, translating_errors
from connectors.es_index import ensure_aux_index

__all__ = ["RunLog", "RunRecord", "runs_index_name", "mappings_for_runs"]

PENDING_LIMIT = 1000


def runs_index_name(alias: str) -> str:
    return f"{alias}-runs"


def mappings_for_runs() -> dict[str, Any]:
    return {
        "dynamic": False,
        "properties": {
            "run_id": {"type": "keyword"},
            "started_at": {"type": "date"},
            "indexed_at": {"type": "date"},
            "alerts_at": {"type": "date"},
            "status": {"type": "keyword"},  # started, indexed, done
            "alerts_done": {"type": "boolean"},
            "summary": {"type": "object", "enabled": False},
        },
    }


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    status: str
    started_at: str
    indexed_at: str | None = None
    alerts_done: bool = False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class RunLog:
    """Reads and writes `<alias>-runs`; one small document per pass, keyed by run id."""

    def __init__(self, client: Elasticsearch, alias: str):
        self.client = client
        self.index = runs_index_name(alias)

    def ensure(self) -> None:
        ensure_aux_index(self.client, self.index, mappings_for_runs())

    def _write(self, run_id: str, fields: dict[str, Any], what: str) -> None:
        with translating_errors(f"{what} in '{self.index}'", client_url(self.client)):
            self.client.update(index=self.index, id=run_id, doc=fields, doc_as_upsert=True,
                               refresh=True)  # a tiny index: refresh now, not wait up to 1 s

    def started(self, run_id: str) -> None:
        self._write(run_id, {"run_id": run_id, "status": "started", "started_at": _now(),
                             "alerts_done": False}, "recording the start of a run")

    def indexed(self, run_id: str, summary: dict[str, Any]) -> None:
        self._write(run_id, {"status": "indexed", "indexed_at": _now(), "summary": summary},
                    "recording an indexed run")

    def alerts_done(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self._write(run_id, {"status": "done", "alerts_done": True, "alerts_at": _now()},
                        "recording a run's alerts")

    def runs_owing_alerts(self) -> list[str]:
        """Runs (this one included) whose documents have not been through the alert rules."""
        with translating_errors(f"reading '{self.index}'", client_url(self.client)):
            response = self.client.search(
                index=self.index, size=PENDING_LIMIT, source=["run_id"],
                query={"bool": {"must_not": [{"term": {"alerts_done": True}}]}},
                sort=[{"started_at": "asc"}, {"run_id": "asc"}])
        return [hit["_source"]["run_id"] for hit in response["hits"]["hits"]]

    def get(self, run_id: str) -> RunRecord | None:
        with translating_errors(f"reading '{self.index}'", client_url(self.client)):
            response = self.client.options(ignore_status=404).get(index=self.index, id=run_id)
        if not response.get("found"):
            return None
        source = response["_source"]
        return RunRecord(run_id=source["run_id"], status=source["status"],
                         started_at=source["started_at"], indexed_at=source.get("indexed_at"),
                         alerts_done=bool(source.get("alerts_done")))
