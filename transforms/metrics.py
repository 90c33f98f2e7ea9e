"""Counters shared by every stage, so the run summary reads one namespace."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager

from apache_beam.metrics import Metrics

__all__ = ["NAMESPACE", "counter", "stage_timer"]

NAMESPACE = "libya_watch"


@functools.cache
def counter(name: str):
    """A Beam counter in the project's namespace.

    Cached: `stage_timer` asks for its counter once per element, and a Beam
    counter only names the metric (the value lives in the running step's
    container), so one object per name serves every step and worker thread.
    """
    return Metrics.counter(NAMESPACE, name)


@contextmanager
def stage_timer(stage: str) -> Iterator[None]:
    """Adds the wall time spent inside the block to the `<stage>_us` counter.

    Microseconds, so that per-element stages do not round down to zero.
    """
    started = time.perf_counter()
    try:
        yield
    finally:
        counter(f"{stage}_us").inc(int((time.perf_counter() - started) * 1_000_000))
