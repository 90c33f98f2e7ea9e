"""Archived inputs for a backfill: saved feed files and JSON-lines exports, read file by file.

A backfill indexes what a feed carried long ago (years of exported RSS/Atom
files) or articles exported as JSON lines. Which files to read is decided
from the `--input` given (`resolve_archive_input`, a pure function that only
checks that something matches); the files themselves are listed and read on
the workers, one file per element, so no process ever holds the whole
archive.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from connectors.errors import ConfigError, one_line
from transforms.fetch import ParseFetched
from transforms.metrics import counter
from transforms.model import FeedSpec, FetchOutcome

__all__ = ["FEED_SUFFIXES", "JSONL_SUFFIXES", "INPUT_FORMATS", "ArchiveInput", "LineRange",
           "ArchiveSlice", "resolve_archive_input", "matched_files", "line_ranges",
           "read_line_range", "feed_file_outcome", "ReadFeedFiles", "ReadLineRanges", "CountRecords"]

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
INPUT_FORMATS = ("feeds", "jsonl", "auto")


@dataclass(frozen=True)
class ArchiveInput:
    """File patterns to read, by kind: feed files (XML) and JSON-lines files of articles."""

    feed_patterns: tuple[str, ...] = ()
    jsonl_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineRange:
    """The lines of a file that begin at a byte offset in [start, end); `end` None: to the end.

    Splitting a file at any byte offsets into such ranges gives every line
    to exactly one range, so a JSON-lines export can be read in parts
    without reading the parts before them.
    """

    path: str
    start: int = 0
    end: int | None = None


@dataclass(frozen=True)
class ArchiveSlice:
    """The part of a backfill one pipeline reads: whole feed files and ranges of JSON lines."""

    feed_files: tuple[str, ...] = ()
    jsonl_ranges: tuple[LineRange, ...] = ()


def _format_of(name: str) -> str | None:
    lowered = name.lower()
    if lowered.endswith(FEED_SUFFIXES):
        return "feeds"
    if lowered.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def matched_files(pattern: str, limit: int | None = None) -> list[tuple[str, int]]:
    """(path, size in bytes) of the files `pattern` matches (at most `limit`); a listing only.

    ConfigError naming the pattern when it cannot be listed (a remote bucket, say).
    """
    try:
        result = FileSystems.match([pattern], limits=[limit] if limit else None)[0]
    except BeamIOError as exc:
        raise ConfigError(f"--input {pattern}: cannot list the files: {one_line(exc)}") from exc
    return [(m.path, m.size_in_bytes) for m in result.metadata_list]


def _matches_something(pattern: str) -> bool:
    return bool(matched_files(pattern, limit=1))


def resolve_archive_input(path_or_glob: str, input_format: str = "auto") -> ArchiveInput:
    """The patterns a backfill reads for `--input`, or ConfigError if none matches a file.

    A directory stands for every file of the chosen kind under it, at any
    depth (`auto`: both kinds, each by its extension). A glob is read as
    given, in Beam's syntax (`*` within a directory, `**` across them);
    with `auto` its own extension says what it holds.
    """
    if input_format not in INPUT_FORMATS:
        raise ConfigError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}, "
                          f"got {input_format!r}")
    if os.path.isdir(path_or_glob):
        root = os.path.abspath(path_or_glob).rstrip(os.sep)
        # "**" crosses directories in Beam's patterns, so "<dir>/**.xml" is any depth.
        feeds = tuple(f"{root}/**{suffix}" for suffix in FEED_SUFFIXES)
        jsonl = tuple(f"{root}/**{suffix}" for suffix in JSONL_SUFFIXES)
        wanted = ArchiveInput(
            feed_patterns=feeds if input_format in ("feeds", "auto") else (),
            jsonl_patterns=jsonl if input_format in ("jsonl", "auto") else ())
        kinds = {"feeds": "feed files (" + ", ".join(f"*{s}" for s in FEED_SUFFIXES) + ")",
                 "jsonl": "JSON-lines files (" + ", ".join(f"*{s}" for s in JSONL_SUFFIXES) + ")"}
        looked_for = (" or ".join(kinds.values()) if input_format == "auto"
                      else kinds[input_format])
        found = ArchiveInput(
            feed_patterns=tuple(p for p in wanted.feed_patterns if _matches_something(p)),
            jsonl_patterns=tuple(p for p in wanted.jsonl_patterns if _matches_something(p)))
        if not (found.feed_patterns or found.jsonl_patterns):
            raise ConfigError(f"--input {path_or_glob}: no {looked_for} in this directory")
        return found
    if not _matches_something(path_or_glob):
        raise ConfigError(f"--input {path_or_glob}: no such file, or the pattern matches no file")
    kind = input_format if input_format != "auto" else _format_of(path_or_glob)
    if kind is None:
        raise ConfigError(f"--input {path_or_glob}: cannot tell feeds from JSON lines by its "
                          "extension; give --input-format feeds or jsonl")
    pattern = os.path.abspath(path_or_glob) if "://" not in path_or_glob else path_or_glob
    if kind == "feeds":
        return ArchiveInput(feed_patterns=(pattern,))
    return ArchiveInput(jsonl_patterns=(pattern,))


def line_ranges(path: str, size: int, range_bytes: int) -> list[LineRange]:
    """`path` cut every `range_bytes` bytes; a compressed file cannot be entered midway: whole."""
    if range_bytes <= 0 or size <= range_bytes or path.lower().endswith(".gz"):
        return [LineRange(path)]
    return [LineRange(path, start, min(start + range_bytes, size))
            for start in range(0, size, range_bytes)]


def read_line_range(span: LineRange) -> Iterator[str]:
    """The lines of `span`, without their line ends; bytes that are not UTF-8 become U+FFFD.

    A line belongs to the range its first byte is in: a range that starts
    mid-line skips to the next line, and the last line read may run past
    `end`. Compressed files (by extension) are read whole.
    """
    with FileSystems.open(span.path) as handle:
        position = 0
        if span.start > 0:
            handle.seek(span.start - 1)
            # The rest of the line the byte before `start` is in: only "\n" if a line starts here.
            position = span.start - 1 + len(handle.readline())
        while span.end is None or position < span.end:
            line = handle.readline()
            if not line:
                return
            position += len(line)
            yield line.rstrip(b"\r\n").decode("utf-8", "replace")


def _file_url(path: str) -> str:
    return path if "://" in path else "file://" + path


def _iso_utc(seconds: float | None) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc) if seconds else datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def feed_file_outcome(path: str, body: bytes,
                      saved_at: float | None = None) -> tuple[FetchOutcome, FeedSpec]:
    """A saved feed file as if just fetched, so the feeds' own parse step reads it.

    The file's URL stands for the feed's (dead letters name the file), and
    its modification time for the fetch time: an entry without a date of its
    own is dated when the archive was saved, not when it was backfilled.
    """
    url = _file_url(path)
    outcome = FetchOutcome(feed_url=url, status="ok", body=body, final_url=url,
                           fetched_at=_iso_utc(saved_at))
    return outcome, FeedSpec(url=url)


class CountRecords(beam.PTransform):
    """Counts JSON-lines records as `entries_seen`, as the feeds' parse step counts entries,
    so a backfill's summary says how many articles it read."""

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | "Count" >> beam.ParDo(_CountRecord())


class _CountRecord(beam.DoFn):
    def __init__(self) -> None:
        self._seen = counter("entries_seen")

    def process(self, record: Any) -> Iterator[Any]:
        self._seen.inc()
        yield record


class _ReadFeedFile(beam.DoFn):
    """Reads one matched file whole: a feed document is parsed as one piece anyway."""

    def __init__(self) -> None:
        self._files = counter("input_files")

    def process(self, readable: fileio.ReadableFile) -> Iterator[tuple[FetchOutcome, FeedSpec]]:
        self._files.inc()
        metadata = readable.metadata
        yield feed_file_outcome(metadata.path, readable.read(), metadata.last_updated_in_seconds)


class ReadFeedFiles(beam.PTransform):
    """File patterns -> RawEntry of every feed file they match, one file per element.

    Outputs as `ParseFetched`: `entries`, `feed_reports` (one per file) and
    `dead_letter` (a file that is not a usable feed, keyed by its file URL).
    Patterns are expanded on the workers and the file list is spread before
    any file is opened, so files are read in parallel and never all at once.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__()
        if not patterns:
            raise ValueError("ReadFeedFiles needs at least one file pattern")
        self._patterns = patterns

    def expand(self, begin: beam.pvalue.PBegin):
        return (begin
                | "Patterns" >> beam.Create(self._patterns)
                # A pattern of a directory's kind may match nothing, which is fine here.
                | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
                | "Spread" >> beam.Reshuffle()
                | "Open" >> fileio.ReadMatches()
                | "Read" >> beam.ParDo(_ReadFeedFile())
                | "ParseFeed" >> ParseFetched())


class _ReadLineRange(beam.DoFn):
    def __init__(self) -> None:
        self._ranges = counter("input_ranges")

    def process(self, span: LineRange) -> Iterator[str]:
        self._ranges.inc()
        yield from read_line_range(span)


class ReadLineRanges(beam.PTransform):
    """Line ranges -> their lines; the ranges are spread over the workers before any is read."""

    def __init__(self, ranges: tuple[LineRange, ...]) -> None:
        super().__init__()
        if not ranges:
            raise ValueError("ReadLineRanges needs at least one range")
        self._ranges = ranges

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection[str]:
        return (begin
                | "Ranges" >> beam.Create(self._ranges)
                | "Spread" >> beam.Reshuffle()
                | "Read" >> beam.ParDo(_ReadLineRange()))
