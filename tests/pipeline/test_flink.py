"""The same pass on Beam's portable Flink runner (embedded Flink) indexes what the local runner does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from connectors.flink_jobserver import install_job_server
from pipeline.cli import main
from tests import wirestory
from tests.feedfactory import atom, rss
from tests.feedserver import FeedServer, Reply
from tests.pipeline.test_run import COPY, LIBYA_ITEMS, OFF_TOPIC

pytestmark = [pytest.mark.es, pytest.mark.flink]

FLINK = ["--runner", "FlinkRunner", "--flink_master=[local]", "--environment_type=LOOPBACK"]
# Stamped by the run, not derived from the feeds: they differ between any two passes.
RUN_FIELDS = frozenset({"indexed_at", "fetched_at", "run_id"})
STATE_RUN_FIELDS = frozenset({"last_success", "last_checked", "last_run_id", "not_before"})
SUMMARY_RUN_FIELDS = frozenset({"run_id", "seconds", "stage_seconds"})


def _documents(client: Elasticsearch, index: str, drop: frozenset[str]) -> dict[str, dict]:
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {hit["_id"]: {k: v for k, v in hit["_source"].items() if k not in drop} for hit in hits}


def _run(feeds: Path, url: str, alias: str, tmp_path: Path, beam_args: list[str]) -> dict[str, Any]:
    summary_path = tmp_path / f"{alias}.json"
    code = main(["run", "--feeds", str(feeds), "--es", url, "--index", alias,
                 "--summary-json", str(summary_path), *beam_args])
    assert code == 0
    summary = json.loads(summary_path.read_text())
    return {k: v for k, v in summary.items() if k not in SUMMARY_RUN_FIELDS}


@pytest.fixture(scope="module")
def job_server() -> Path:
    """Installed on first use, as the Elasticsearch fixture starts its server: never a skip."""
    return install_job_server()


@pytest.fixture
def two_aliases(es_alias: str) -> tuple[str, str]:
    """The two runs' aliases; the prefix `es_alias` has them deleted afterwards."""
    return f"{es_alias}-local", f"{es_alias}-flink"


@pytest.fixture
def feeds(tmp_path: Path):
    """Relevant, off-topic, exact-copy and near-copy entries, and one feed that fails."""
    with FeedServer() as server:
        wire = server.route("/wire.xml", Reply(body=rss(LIBYA_ITEMS + [OFF_TOPIC]),
                                               headers={"Content-Type": "application/rss+xml"}))
        other = server.route("/other.atom", Reply(body=atom([COPY])))
        desk = server.route("/desk.xml", Reply(body=rss([wirestory.ORIGINAL, wirestory.COPY])))
        gone = server.route("/gone.xml", Reply(status=404, body=b"not here"))
        path = tmp_path / "feeds.yaml"
        lines = ["settings:", "  timeout: 10", "  retries: 0", "feeds:"]
        lines += [f"  - url: {u}\n    name: Feed {i}" for i, u in enumerate((wire, other, desk, gone))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield path


def test_flink_indexes_what_the_local_runner_indexes(es_client, es_server, job_server, two_aliases,
                                                     feeds, tmp_path):
    local_alias, flink_alias = two_aliases

    local = _run(feeds, es_server.url, local_alias, tmp_path, [])
    flink = _run(feeds, es_server.url, flink_alias, tmp_path, FLINK)  # the CLI adds the jar

    local_docs = _documents(es_client, local_alias, RUN_FIELDS)
    flink_docs = _documents(es_client, flink_alias, RUN_FIELDS)
    assert len(local_docs) >= 5  # three wire reports and the two desk versions of one story
    assert any(doc.get("duplicate_of") for doc in local_docs.values())
    assert flink_docs == local_docs
    # The summary is read from Beam's counters, which the portable runner must hand back.
    assert flink["indexed"] == len(local_docs)
    assert flink == local
    assert (_documents(es_client, f"{flink_alias}-state", STATE_RUN_FIELDS)
            == _documents(es_client, f"{local_alias}-state", STATE_RUN_FIELDS))
