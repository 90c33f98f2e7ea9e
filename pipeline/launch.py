"""Launchers: turn parsed options into a pipeline run and a summary (the CLI only calls these)."""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from connectors import es_local
from connectors.es_client import EsSettings, check_reachable, make_client
from connectors.es_index import ensure_index
from connectors import errors
from connectors.errors import ElasticsearchError, LibyaWatchError, PipelineFailed
from connectors.feeds import load_feeds
from connectors.alerting.delivery import alert_pass
from connectors.alerting.rules import AlertConfig, load_alert_config
from connectors.notifiers import notifier_spec
from connectors.runlog import RunLog
from connectors.state import FeedStateStore
from pipeline.build import RunPlan, build_enrich, build_run
from pipeline.summary import FailedFeed, RunSummary, read_counters

__all__ = ["run_pass", "run_enrich", "resolve_es", "new_run_id", "beam_options", "alert_config"]


def new_run_id() -> str:
    """Sortable by time, unique across machines."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam options from the leftover command line; the local runner unless one is named."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = "DirectRunner"
    return options


def resolve_es(url: str | None) -> EsSettings:
    """The configured cluster (flag, then ES_URL), or the local server, started if needed."""
    if not (url or os.environ.get("ES_URL")):
        es_local.start()
    return EsSettings.from_flags(url=url)


# A worker's traceback as text ends with e.g. "connectors.errors.ElasticsearchUnavailable: ...".
_OUR_ERROR_LINE = re.compile(r"connectors\.errors\.(?P<name>\w+): (?P<message>.+)")


def _error_from_text(text: str) -> LibyaWatchError | None:
    """Our error named in a traceback that a runner passed on as text (remote workers do)."""
    for line in reversed(text.splitlines()):
        match = _OUR_ERROR_LINE.search(line)
        if not match:
            continue
        kind = getattr(errors, match["name"], None)
        message = match["message"]
        if isinstance(kind, type) and issubclass(kind, ElasticsearchError):
            # Elasticsearch errors are built from their message alone.
            return kind(message)
        return PipelineFailed(message)
    return None


def _finish(pipeline: beam.Pipeline):
    """Runs the pipeline; any failure inside becomes one line: our own error, or PipelineFailed."""
    try:
        result = pipeline.run()
        result.wait_until_finish()
        return result
    except LibyaWatchError:
        raise
    except Exception as exc:  # Beam wraps worker errors; find ours in the chain, or in the text
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, LibyaWatchError):
                raise cause from exc
            cause = cause.__cause__ or cause.__context__
        ours = _error_from_text(str(exc))
        if ours is not None:
            raise ours from exc
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        if not lines:
            lines = [type(exc).__name__]
        # A traceback passed on as text says what failed on its last line.
        line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
        raise PipelineFailed(f"pipeline failed: {line}") from exc


def alert_config(rules: Path | None, alerts_out: Path | None) -> AlertConfig | None:
    """The alert rules of a pass (the packaged ones when only `--alerts-out` is given), or None."""
    if rules is None and alerts_out is None:
        return None
    config = load_alert_config(rules)
    if alerts_out is not None:
        out = notifier_spec({"type": "jsonl", "name": "alerts-out", "path": str(alerts_out)},
                            source="--alerts-out", where="path", base_dir=Path.cwd())
        config = replace(config, notifiers=(*config.notifiers, out))
    return config


def run_pass(feeds_path: Path, es_url: str | None, alias: str,
             beam_args: list[str], tag: bool = True, rules: Path | None = None,
             alerts_out: Path | None = None) -> RunSummary:
    """One pass over every feed into Elasticsearch, then the alert rules over what is new.

    Without rules, the pass owes no alerts: enabling rules later alerts on
    what arrives from then on, not on the archive.
    """
    config = load_feeds(feeds_path)
    alerts = alert_config(rules, alerts_out)  # a bad rules file fails before any fetch
    settings = resolve_es(es_url)
    client = make_client(settings)
    try:
        check_reachable(client, settings)
        ensure_index(client, alias)
        store = FeedStateStore(client, alias)
        store.ensure()  # before any worker: two creating it at once race for its shard
        known = store.load([f.url for f in config.feeds])
        feeds = tuple(replace(f, etag=known[f.url].etag, last_modified=known[f.url].last_modified)
                      if f.url in known else f for f in config.feeds)
        run_id = new_run_id()
        runs = RunLog(client, alias)
        runs.ensure()
        runs.started(run_id)
        plan = RunPlan(feeds=feeds, settings=config.settings, alias=alias, run_id=run_id,
                       client_factory=functools.partial(make_client, settings), tag=tag)
        started = time.monotonic()
        pipeline = beam.Pipeline(options=beam_options(beam_args))
        build_run(pipeline, plan)
        result = _finish(pipeline)
        elapsed = time.monotonic() - started
        client.indices.refresh(index=[alias, f"{alias}-state", plan.dead_letter_index],
                               ignore_unavailable=True)
        after = store.load([f.url for f in feeds])
        failed = [FailedFeed(url, state.last_error or "failed", state.last_http_status)
                  for url, state in after.items()
                  if state.last_run_id == run_id and state.last_status == "failed"]
        summary = RunSummary(run_id=run_id, counters=read_counters(result), seconds=elapsed,
                             failed_feeds=failed)
        runs.indexed(run_id, summary.figures())
        if alerts is None:
            runs.alerts_done([run_id])
        else:
            summary.alerts = alert_pass(client, alias, alerts, runs)
        return summary
    finally:
        client.close()


def run_enrich(input_pattern: str, output_path: Path, beam_args: list[str]) -> RunSummary:
    """The same transforms without feeds or Elasticsearch: JSON lines in, documents out."""
    started = time.monotonic()
    pipeline = beam.Pipeline(options=beam_options(beam_args))
    build_enrich(pipeline, input_pattern, str(output_path))
    result = _finish(pipeline)
    return RunSummary(run_id="enrich", counters=read_counters(result),
                      seconds=time.monotonic() - started)
