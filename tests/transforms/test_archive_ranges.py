"""Reading JSON-lines files in byte ranges: every line read exactly once, wherever the cuts fall."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.launch import LOCAL_RUNNER
from transforms.archive import LineRange, ReadLineRanges, line_ranges, read_line_range

# Short and long lines, an empty line, a CRLF line end, non-ASCII text, no final line end.
BODY = ('{"id": 1}\n{"id": 2, "title": "Ḥaftar’s forces"}\n\n{"id": 3}\r\n'
        '{"id": 4, "text": "' + "x" * 40 + '"}\n{"id": 5}').encode("utf-8")
LINES = ['{"id": 1}', '{"id": 2, "title": "Ḥaftar’s forces"}', "", '{"id": 3}',
         '{"id": 4, "text": "' + "x" * 40 + '"}', '{"id": 5}']


def _read(path: Path, range_bytes: int) -> list[str]:
    lines = []
    for span in line_ranges(str(path), len(BODY), range_bytes):
        lines += read_line_range(span)
    return lines


def test_ranges_of_any_size_read_every_line_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl"
    path.write_bytes(BODY)

    for range_bytes in (*range(1, len(BODY) + 2), 0):
        assert _read(path, range_bytes) == LINES, f"ranges of {range_bytes} bytes"


def test_ranges_cover_the_file_without_gaps_or_overlap() -> None:
    spans = line_ranges("/a.jsonl", 25, 10)

    assert spans == [LineRange("/a.jsonl", 0, 10), LineRange("/a.jsonl", 10, 20),
                     LineRange("/a.jsonl", 20, 25)]
    assert line_ranges("/a.jsonl", 10, 10) == [LineRange("/a.jsonl")]


def test_a_compressed_file_is_one_range_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl.gz"
    path.write_bytes(gzip.compress(BODY))

    spans = line_ranges(str(path), path.stat().st_size, 1)

    assert spans == [LineRange(str(path))]
    assert list(read_line_range(spans[0])) == LINES


def test_bytes_that_are_not_utf8_are_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"title": "caf\xe9"}\n{"id": 2}\n')

    assert list(read_line_range(LineRange(str(path)))) == ['{"title": "caf\ufffd"}', '{"id": 2}']


def test_read_line_ranges_yields_the_lines_of_every_range(tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl"
    path.write_bytes(BODY)
    spans = tuple(line_ranges(str(path), len(BODY), 16))
    assert len(spans) > 3

    with BeamTestPipeline(runner=LOCAL_RUNNER) as p:
        assert_that(p | ReadLineRanges(spans), equal_to(LINES))
