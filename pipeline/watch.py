"""The watcher: a pass every interval over the feeds that are due, until told to stop.

Each cycle the driver sends conditional GETs to the due feeds (a per-host
limit keeps any one server from being hammered); the Beam pipeline runs
only when a feed has a new body, then the alert rules run. The feed
schedule (Cache-Control, Retry-After, <ttl>, backoff of failing feeds)
lives in the state index, so a restarted watcher, or a scheduled `run` on
another machine, carries on where this one stopped.

SIGTERM or SIGINT lets the pass under way finish, then the watcher exits 0;
a second SIGINT stops at once. Either way nothing is lost: validators only
move once a feed's entries are indexed, so an interrupted pass is simply
fetched again. The run lock is held for the watcher's whole life.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ConfigError, ElasticsearchError, PipelineFailed, RunLockHeld
from connectors.feeds import FeedsConfig, load_feeds
from pipeline.launch import PassTarget, alert_config, execute_pass, run_slicing
from pipeline.summary import RunSummary

__all__ = ["WatchOptions", "watch", "stop_on_signals"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchOptions:
    feeds_path: Path
    es_url: str | None
    alias: str
    beam_args: tuple[str, ...] = ()
    interval: float = 300.0
    tag: bool = True
    rules: Path | None = None
    alerts_out: Path | None = None
    ignore_schedule: bool = False
    max_cycles: int | None = None
    slice_feeds: int | None = None  # None: the runner's default


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """The first SIGTERM/SIGINT sets `stop`; a second SIGINT interrupts at once."""

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        log.info("stopping after the pass under way", extra={"signal": signal.Signals(signum).name})

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _FeedsFile:
    """The feeds file, re-read when it changes; a broken edit keeps the last good list."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config: FeedsConfig = load_feeds(path)  # at start, a bad file is fatal
        self._mtime = path.stat().st_mtime_ns

    def current(self) -> FeedsConfig:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            log.error("%s: cannot read (%s); keeping the last good feeds list", self.path, exc)
            return self.config
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.config = load_feeds(self.path)
                log.info("feeds file changed: now %d feeds", len(self.config.feeds))
            except ConfigError as exc:
                log.error("%s; keeping the last good feeds list", exc)
        return self.config


def watch(options: WatchOptions, report: Callable[[RunSummary], None],
          stop: threading.Event | None = None) -> int:
    """Runs passes until `stop` is set (or `max_cycles` passes); returns the number of passes.

    A pass that fails on Elasticsearch or in the pipeline is logged and tried
    again at the next interval: a watcher outlives outages. A bad feeds or
    rules file at start, or losing the run lock, ends it.
    """
    stop = stop or threading.Event()
    feeds = _FeedsFile(options.feeds_path)
    alerts = alert_config(options.rules, options.alerts_out)
    slicing = run_slicing(list(options.beam_args), slice_feeds=options.slice_feeds)
    target = PassTarget.open(options.es_url, options.alias)
    cycles = 0
    try:
        with target.lock("watch").held() as lock:
            log.info("watching %d feeds every %g s", len(feeds.config.feeds), options.interval,
                     extra={"index": options.alias})
            while not stop.is_set():
                started = time.monotonic()
                if lock.lost:
                    raise RunLockHeld(f"lost the run lock on '{lock.index}' (another run took it "
                                      "over after the lease expired); stopping")
                try:
                    summary = execute_pass(target, feeds.current(), list(options.beam_args),
                                           tag=options.tag, alerts=alerts,
                                           ignore_schedule=options.ignore_schedule, probe=True,
                                           slicing=slicing)
                except (ElasticsearchError, PipelineFailed) as exc:
                    log.error("pass failed, retrying in %g s: %s", options.interval, exc)
                else:
                    report(summary)
                cycles += 1
                if options.max_cycles is not None and cycles >= options.max_cycles:
                    break
                stop.wait(max(0.0, options.interval - (time.monotonic() - started)))
    finally:
        target.close()
    log.info("stopped after %d passes", cycles)
    return cycles
