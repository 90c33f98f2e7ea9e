"""The run log against the real Elasticsearch: a pass that died before alerting is found again."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from connectors.runlog import RunLog

pytestmark = pytest.mark.es


def test_a_run_owes_alerts_until_they_are_done(es_client: Elasticsearch, es_alias: str) -> None:
    log = RunLog(es_client, es_alias)
    log.ensure()
    log.started("run-1")
    log.indexed("run-1", {"indexed": 3})
    log.started("run-2")  # died before indexing finished: its documents still need alerts
    assert log.runs_owing_alerts() == ["run-1", "run-2"]

    log.alerts_done(["run-1"])
    assert log.runs_owing_alerts() == ["run-2"]
    record = log.get("run-1")
    assert record is not None and record.alerts_done and record.status == "done"
    assert record.indexed_at is not None


def test_an_unknown_run_is_none(es_client: Elasticsearch, es_alias: str) -> None:
    log = RunLog(es_client, es_alias)
    log.ensure()
    assert log.get("never") is None
    assert log.runs_owing_alerts() == []
