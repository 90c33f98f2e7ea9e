"""Cuts one run's input into slices, each run as a pipeline of its own, one after another.

Beam's in-process runners keep every collection that feeds a grouping in
memory until the grouping runs, so one pipeline over a whole archive needs
memory in proportion to the archive. Cut into slices of a fixed size, the
same run needs the memory of one slice, however large the input: slices
after the first find what earlier ones indexed in Elasticsearch (exact
duplicates are skipped, near-duplicates join the earlier story), as a later
run would.

Distributed runners spill to disk, but the stories step groups all of a
pipeline's signatures under one key, and Flink's batch mode handles that
group as one record, which must fit its sort buffer (60 MB with the
embedded defaults: about 45,000 documents). So they get larger slices
rather than none; 0 asks for one pipeline on any runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from connectors.errors import ConfigError
from transforms.archive import ArchiveInput, ArchiveSlice, LineRange, line_ranges, matched_files

__all__ = ["IN_MEMORY_RUNNERS", "Slicing", "slicing_for", "chunks", "archive_slices"]

# Runners that hold a pipeline's collections in the memory of this machine.
IN_MEMORY_RUNNERS = frozenset({"FnApiRunner", "DirectRunner", "SwitchingDirectRunner",
                               "BundleBasedDirectRunner", "PrismRunner"})
# What one slice holds by default. On the in-process runners, 200 feeds of 50
# entries or 32 MB of JSON lines (about 16,000 articles of news-wire length)
# keep a tagged pass under about 1 GB resident (docs/benchmarks.md); on others,
# 500 feeds or 48 MB keep the stories group (about 1.3 KB per document) well
# inside Flink's default sort buffer.
DEFAULT_SLICE_FEEDS = 200
DEFAULT_SLICE_MB = 32
DISTRIBUTED_SLICE_FEEDS = 500
DISTRIBUTED_SLICE_MB = 48
# JSON-lines files are read in ranges of at most this many bytes, so that
# even one large file is read by several workers at once.
RANGE_BYTES = 8 * 2**20

T = TypeVar("T")


@dataclass(frozen=True)
class Slicing:
    """At most `feeds` feeds or `bytes` bytes of archive per pipeline; 0: no limit."""

    feeds: int = 0
    bytes: int = 0


def slicing_for(runner: str, slice_feeds: int | None = None,
                slice_mb: float | None = None) -> Slicing:
    """The slice sizes of a run on `runner`: those asked for, else the runner's default.

    0 asks for one pipeline over the whole input.
    """
    for name, value in (("--slice-feeds", slice_feeds), ("--slice-mb", slice_mb)):
        if value is not None and value < 0:
            raise ConfigError(f"{name} must be 0 (no slicing) or more, got {value:g}")
    if runner.rsplit(".", 1)[-1] in IN_MEMORY_RUNNERS:
        default_feeds, default_mb = DEFAULT_SLICE_FEEDS, DEFAULT_SLICE_MB
    else:
        default_feeds, default_mb = DISTRIBUTED_SLICE_FEEDS, DISTRIBUTED_SLICE_MB
    feeds = slice_feeds if slice_feeds is not None else default_feeds
    mb = slice_mb if slice_mb is not None else default_mb
    return Slicing(feeds=int(feeds), bytes=int(mb * 2**20))


def chunks(items: Sequence[T], size: int) -> list[tuple[T, ...]]:
    """`items` in order, `size` at a time (all at once when `size` is 0); none when empty."""
    if not items:
        return []
    if size <= 0:
        return [tuple(items)]
    return [tuple(items[i:i + size]) for i in range(0, len(items), size)]


def _files(patterns: Sequence[str]) -> list[tuple[str, int]]:
    """(path, size) of every file the patterns match, each once, in path order."""
    return sorted(dict(f for pattern in patterns for f in matched_files(pattern)).items())


def archive_slices(archive: ArchiveInput, slice_bytes: int,
                   range_bytes: int = RANGE_BYTES) -> list[ArchiveSlice]:
    """The files of `archive` packed, in path order, into slices of about `slice_bytes` each.

    Only lists the files. A slice holds whole feed files (a feed is parsed
    as one piece) and ranges of JSON-lines files; a file or range larger
    than a slice is a slice of its own. `slice_bytes` 0: one slice.
    """
    if slice_bytes > 0:
        range_bytes = min(range_bytes, slice_bytes)
    parts: list[tuple[str | LineRange, int]] = [(path, size)
                                                for path, size in _files(archive.feed_patterns)]
    for path, size in _files(archive.jsonl_patterns):
        for span in line_ranges(path, size, range_bytes):
            end = size if span.end is None else span.end
            parts.append((span, end - span.start))
    slices: list[ArchiveSlice] = []
    feeds: list[str] = []
    ranges: list[LineRange] = []
    held = 0
    for part, size in parts:
        if (feeds or ranges) and slice_bytes > 0 and held + size > slice_bytes:
            slices.append(ArchiveSlice(tuple(feeds), tuple(ranges)))
            feeds, ranges, held = [], [], 0
        if isinstance(part, LineRange):
            ranges.append(part)
        else:
            feeds.append(part)
        held += size
    if feeds or ranges:
        slices.append(ArchiveSlice(tuple(feeds), tuple(ranges)))
    return slices
