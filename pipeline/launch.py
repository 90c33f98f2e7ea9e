"""Launchers: turn parsed options into a pipeline run and a summary (the CLI only calls these)."""

from __future__ import annotations

import functools
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import (PipelineOptions, StandardOptions,
                                                  _BeamArgumentParser)

from connectors import es_local
from connectors.es_client import EsSettings, check_reachable, make_client
from connectors.es_index import ensure_index
from connectors import errors
from connectors.errors import ConfigError, ElasticsearchError, LibyaWatchError, PipelineFailed
from connectors.feeds import FeedsConfig, load_feeds
from connectors.flink_jobserver import flink_beam_args
from connectors.fetch import fetch_all
from connectors.alerting.delivery import alert_pass
from connectors.alerting.rules import AlertConfig, load_alert_config
from connectors.notifiers import notifier_spec
from connectors.runlock import RunLock
from connectors.runlog import RunLog
from connectors.schedule import is_due
from connectors.state import FeedState, FeedStateStore
from pipeline.build import BackfillPlan, RunPlan, build_backfill, build_enrich, build_run
from pipeline.progress import pass_progress
from pipeline.slices import Slicing, archive_slices, chunks, slicing_for
from pipeline.summary import FailedFeed, RunSummary, read_counters
from transforms.archive import resolve_archive_input
from transforms.model import FeedSpec

__all__ = ["run_pass", "run_backfill", "run_enrich", "execute_pass", "due_feeds", "PassTarget",
           "resolve_es", "new_run_id", "beam_options", "run_slicing", "alert_config"]

log = logging.getLogger(__name__)


# How often a watcher rewrites the state of a feed that keeps answering 304
# with nothing else new: "last checked" may lag by this much in `status`.
STATE_HEARTBEAT_S = 300.0


def new_run_id() -> str:
    """Sortable by time, unique across machines."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


# Beam's in-process runner. The default "DirectRunner" of Beam 2.77 first
# downloads its Prism runner from the internet and runs the pipeline there
# when that works, so the same command would run on a different runner
# depending on the network; FnApiRunner is what DirectRunner falls back to,
# what the tests run on, and downloads nothing.
LOCAL_RUNNER = "FnApiRunner"


def _unknown_to_beam(beam_args: list[str]) -> list[str]:
    """The arguments no Beam option takes (Beam itself would only log and drop them)."""
    # The parser Beam builds in PipelineOptions.get_all_options, without abbreviations.
    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - how Beam itself collects its options
    _, unknown = parser.parse_known_args(beam_args)
    return unknown


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam options from the leftover command line; the local runner unless one is named.

    An option neither libya-watch nor Beam knows is an error: a misspelt
    `--runer FlinkRunner` must not silently run on the local runner.
    """
    beam_args = flink_beam_args(beam_args)  # the installed job server, for --runner FlinkRunner
    unknown = _unknown_to_beam(beam_args)
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} (not an option of libya-watch or of "
                          "Beam; see --help)")
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_RUNNER
    return options


def run_slicing(beam_args: list[str], slice_feeds: int | None = None,
                slice_mb: float | None = None) -> Slicing:
    """The slice sizes of a run with these Beam options (the runner's default unless given)."""
    return slicing_for(beam_options(beam_args).view_as(StandardOptions).runner,
                       slice_feeds, slice_mb)


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


@dataclass
class PassTarget:
    """What every pass into one index shares: the client and the small state indices."""

    client: Any
    settings: EsSettings
    alias: str
    store: FeedStateStore
    runs: RunLog

    @classmethod
    def open(cls, es_url: str | None, alias: str) -> PassTarget:
        """Connects, checks the cluster and makes sure every index a pass writes exists."""
        settings = resolve_es(es_url)
        client = make_client(settings)
        try:
            check_reachable(client, settings)
            ensure_index(client, alias)
            store = FeedStateStore(client, alias)
            store.ensure()  # before any worker: two creating it at once race for its shard
            runs = RunLog(client, alias)
            runs.ensure()
        except BaseException:
            client.close()
            raise
        return cls(client=client, settings=settings, alias=alias, store=store, runs=runs)

    def lock(self, command: str) -> RunLock:
        return RunLock(self.client, self.alias, owner=new_run_id(), command=command)

    def close(self) -> None:
        self.client.close()


def due_feeds(feeds: tuple[FeedSpec, ...], known: dict[str, FeedState], now: datetime,
              ignore_schedule: bool = False) -> tuple[FeedSpec, ...]:
    """The feeds to fetch now, each with its remembered validators."""
    due = []
    for feed in feeds:
        state = known.get(feed.url)
        if state is None:
            due.append(feed)
        elif ignore_schedule or is_due(state.not_before, now):
            due.append(replace(feed, etag=state.etag, last_modified=state.last_modified))
    return tuple(due)


def execute_pass(target: PassTarget, config: FeedsConfig, beam_args: list[str], *,
                 tag: bool = True, alerts: AlertConfig | None = None,
                 ignore_schedule: bool = False, probe: bool = False,
                 slicing: Slicing | None = None) -> RunSummary:
    """One pass over the due feeds; the caller holds the run lock.

    With `probe`, the driver fetches the due feeds itself first and records
    the unchanged (304) and failed ones directly; the Beam pipeline then runs
    only when some feed has a new body, and parses the bodies already
    fetched. A watcher polling unchanged feeds thus costs a few conditional
    GETs per cycle instead of a pipeline run. Without it, fetching is the
    pipeline's first stage, spread over the runner's workers.

    `slicing` (default: the runner's) runs the pass as one pipeline per
    `slicing.feeds` feeds, one after another, all under the same run id.
    """
    slicing = slicing or run_slicing(beam_args)
    known = target.store.load([f.url for f in config.feeds])
    feeds = due_feeds(config.feeds, known, datetime.now(timezone.utc), ignore_schedule)
    run_id = new_run_id()
    extra = {"feeds_not_due": len(config.feeds) - len(feeds)}
    started = time.monotonic()
    prefetched = None
    if probe and feeds:
        fetch_started = time.perf_counter()
        outcomes = fetch_all(feeds, config.settings)
        extra["fetch_us"] = int((time.perf_counter() - fetch_started) * 1e6)
        prefetched = tuple((o, f) for o, f in zip(outcomes, feeds) if o.status == "ok")
        settled = [o for o in outcomes if o.status != "ok"]
        target.store.record(settled, run_id,
                            advance_validators={o.feed_url for o in settled
                                                if o.status == "not_modified"},
                            policy=config.settings.schedule, heartbeat_s=STATE_HEARTBEAT_S)
        for status in ("not_modified", "failed"):
            extra[f"feeds_{status}"] = sum(1 for o in settled if o.status == status)
    counters: dict[str, int] = {}
    ran = bool(prefetched) if probe else bool(feeds)
    if ran:
        plan = RunPlan(feeds=feeds, settings=config.settings, alias=target.alias, run_id=run_id,
                       client_factory=functools.partial(make_client, target.settings), tag=tag)
        if probe:
            plans = [replace(plan, feeds=tuple(f for _, f in part), prefetched=part)
                     for part in chunks(prefetched, slicing.feeds)]
        else:
            plans = [replace(plan, feeds=part) for part in chunks(feeds, slicing.feeds)]
        counters = _indexing_run(target, run_id, beam_args,
                                 [functools.partial(build_run, plan=p) for p in plans],
                                 refresh=[f"{target.alias}-state", plan.dead_letter_index])
    for name, value in extra.items():
        counters[name] = counters.get(name, 0) + value
    after = target.store.load([f.url for f in feeds]) if feeds else {}
    failed = [FailedFeed(url, state.last_error or "failed", state.last_http_status)
              for url, state in after.items()
              if state.last_run_id == run_id and state.last_status == "failed"]
    summary = RunSummary(run_id=run_id, counters=counters, seconds=time.monotonic() - started,
                         failed_feeds=failed, ran_pipeline=ran)
    _close_run(target, summary, alerts)
    return summary


def _indexing_run(target: PassTarget, run_id: str, beam_args: list[str],
                  slices: Sequence[Callable[[beam.Pipeline], object]],
                  refresh: list[str]) -> dict[str, int]:
    """Runs one pipeline per slice as `run_id` (recorded as started first); their counters, summed.

    After each slice the alias and `refresh` are refreshed, so what it wrote
    is what the next slice, the summary, the alert rules and the next run read.
    """
    target.runs.started(run_id)
    counters: dict[str, int] = {}
    for number, build in enumerate(slices, 1):
        pipeline = beam.Pipeline(options=beam_options(beam_args))
        build(pipeline)
        with pass_progress(target.client, target.alias, run_id):
            result = _finish(pipeline)
        target.client.indices.refresh(index=[target.alias, *refresh], ignore_unavailable=True)
        for name, value in read_counters(result).items():
            counters[name] = counters.get(name, 0) + value
        if len(slices) > 1:
            log.info("run %s: slice %d of %d done", run_id, number, len(slices))
    counters["slices"] = len(slices)
    return counters


def _close_run(target: PassTarget, summary: RunSummary, alerts: AlertConfig | None) -> None:
    """Records a run that indexed as such, then runs the alert rules (over every run owing them).

    A run without rules owes no alerts; a pass whose pipeline did not run
    left no record, but may still deliver what earlier runs left pending.
    """
    if summary.ran_pipeline:
        target.runs.indexed(summary.run_id, summary.figures())
        if alerts is None:
            target.runs.alerts_done([summary.run_id])
    if alerts is not None:
        summary.alerts = alert_pass(target.client, target.alias, alerts, target.runs)


def run_pass(feeds_path: Path, es_url: str | None, alias: str,
             beam_args: list[str], tag: bool = True, rules: Path | None = None,
             alerts_out: Path | None = None, ignore_schedule: bool = False,
             slice_feeds: int | None = None) -> RunSummary:
    """One pass over every due feed into Elasticsearch, then the alert rules over what is new.

    Holds the index's run lock throughout: a second run started meanwhile
    raises `RunLockHeld`. Without rules, the pass owes no alerts: enabling
    rules later alerts on what arrives from then on, not on the archive.
    """
    config = load_feeds(feeds_path)
    alerts = alert_config(rules, alerts_out)  # a bad rules file fails before any fetch
    slicing = run_slicing(beam_args, slice_feeds=slice_feeds)
    target = PassTarget.open(es_url, alias)
    try:
        with target.lock("run").held():
            return execute_pass(target, config, beam_args, tag=tag, alerts=alerts,
                                ignore_schedule=ignore_schedule, slicing=slicing)
    finally:
        target.close()


def run_backfill(input_path: str, input_format: str, es_url: str | None, alias: str,
                 beam_args: list[str], tag: bool = True, rules: Path | None = None,
                 alerts_out: Path | None = None, slice_mb: float | None = None) -> RunSummary:
    """One pass over archived feed files or JSON lines instead of the feeds (`run --input`).

    Everything after reading is the pass's own: the run lock, the run log,
    dedup against the index (a second backfill of the same files indexes
    nothing), stories, dead letters and, with rules, the alerts. The files
    are listed here and read in slices of about `slice_mb` MB (default: the
    runner's), one pipeline each, so memory does not grow with the archive.
    """
    archive = resolve_archive_input(input_path, input_format)  # no match: fails before connecting
    alerts = alert_config(rules, alerts_out)
    slicing = run_slicing(beam_args, slice_mb=slice_mb)
    parts = archive_slices(archive, slicing.bytes)
    if not parts:
        raise ConfigError(f"--input {input_path}: the files it matched are gone")
    target = PassTarget.open(es_url, alias)
    try:
        with target.lock("run").held():
            run_id = new_run_id()
            started = time.monotonic()
            plan = BackfillPlan(input=parts[0], alias=alias, run_id=run_id,
                                client_factory=functools.partial(make_client, target.settings),
                                tag=tag)
            counters = _indexing_run(
                target, run_id, beam_args,
                [functools.partial(build_backfill, plan=replace(plan, input=part))
                 for part in parts],
                refresh=[plan.dead_letter_index])
            summary = RunSummary(run_id=run_id, counters=counters,
                                 seconds=time.monotonic() - started)
            _close_run(target, summary, alerts)
            return summary
    finally:
        target.close()


def run_enrich(input_pattern: str, output_path: Path, beam_args: list[str]) -> RunSummary:
    """The same transforms without feeds or Elasticsearch: JSON lines in, documents out."""
    started = time.monotonic()
    pipeline = beam.Pipeline(options=beam_options(beam_args))
    build_enrich(pipeline, input_pattern, str(output_path))
    result = _finish(pipeline)
    return RunSummary(run_id="enrich", counters=read_counters(result),
                      seconds=time.monotonic() - started)
