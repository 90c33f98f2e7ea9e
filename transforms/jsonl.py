"""Reads article records from JSON lines; a line that is not a JSON object is a dead letter."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.metrics import counter
from transforms.model import DeadLetter

__all__ = ["ParseJsonLines", "parse_json_line", "DEAD_LETTER"]

DEAD_LETTER = "dead_letter"


def parse_json_line(line: str) -> dict[str, Any]:
    """One JSON object; ValueError with a one-line reason otherwise."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise ValueError("invalid JSON: nested too deeply") from exc
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


class _Parse(beam.DoFn):
    def __init__(self):
        self._read = counter("input_lines")
        self._rejected = counter("input_rejected")

    def process(self, line: str) -> Iterator:
        if not line.strip():
            return
        self._read.inc()
        try:
            yield parse_json_line(line)
        except ValueError as exc:
            self._rejected.inc()
            digest = hashlib.sha1(line.encode("utf-8", "replace")).hexdigest()[:12]
            yield pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
                stage="input", key=f"{line[:100]} #{digest}", error=str(exc)))


class ParseJsonLines(beam.PTransform):
    """Lines -> dict records, plus a `dead_letter` output for lines that are not objects."""

    def expand(self, lines: beam.PCollection[str]):
        return lines | "Parse" >> beam.ParDo(_Parse()).with_outputs(DEAD_LETTER, main="records")
