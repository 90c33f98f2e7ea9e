"""JSON lines: objects become records, anything else a one-line dead letter."""

from __future__ import annotations

import gc
import hashlib

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.summary import read_counters
from transforms.jsonl import ParseJsonLines, parse_json_line
from transforms.model import DeadLetter

# --- parse_json_line -----------------------------------------------------------------------


def _digest(line: str) -> str:
    """The short hash a dead letter's key carries, so two long lines never share a key."""
    return hashlib.sha1(line.encode("utf-8")).hexdigest()[:12]


def test_a_json_object_becomes_a_dict() -> None:
    assert parse_json_line('{"title": "Sirte", "tags": ["a"], "n": 1}') == {
        "title": "Sirte", "tags": ["a"], "n": 1}
    assert parse_json_line('  {"x": null}  ') == {"x": None}


@pytest.mark.parametrize(("line", "message"), [
    ('{"title": "unterminated', "invalid JSON at column 11: Unterminated string starting at"),
    ('{"a": 1} trailing', "invalid JSON at column 10: Extra data"),
    ("{'single': 'quotes'}", "invalid JSON at column 2: Expecting property name enclosed in double quotes"),
    ("", "invalid JSON at column 1: Expecting value"),
])
def test_invalid_json_says_where(line: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_json_line(line)
    assert str(caught.value) == message


@pytest.mark.parametrize(("line", "kind"), [
    ('[{"title": "x"}]', "list"), ('"a string"', "str"), ("42", "int"), ("null", "NoneType"),
    ("true", "bool"),
])
def test_json_that_is_not_an_object_is_refused(line: str, kind: str) -> None:
    with pytest.raises(ValueError, match=f"^expected a JSON object, got {kind}$"):
        parse_json_line(line)


def test_deeply_nested_json_is_an_ordinary_error() -> None:
    # A garbage collection that happens to run at that depth would make some
    # other object's finalizer hit the recursion limit too, which pytest then
    # reports against this test; that is not what is tested here.
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(ValueError):
            parse_json_line("[" * 100_000)
    finally:
        gc.enable()


# --- ParseJsonLines ------------------------------------------------------------------------


def test_objects_go_to_records_and_the_rest_to_dead_letters() -> None:
    long_bad = '{"title": "' + "x" * 200  # unterminated, longer than a key may be
    lines = ['{"title": "Wagner in Libya", "url": "http://wire.example/1"}',
             "",
             "   ",
             "[1, 2]",
             long_bad,
             '{"title": "Turkey and the GNA"}']
    p = BeamTestPipeline()
    parsed = p | beam.Create(lines) | ParseJsonLines()
    assert_that(parsed.records, equal_to([
        {"title": "Wagner in Libya", "url": "http://wire.example/1"},
        {"title": "Turkey and the GNA"},
    ]), label="Records")
    assert_that(parsed.dead_letter, equal_to([
        DeadLetter(stage="input", key=f"[1, 2] #{_digest('[1, 2]')}",
                   error="expected a JSON object, got list"),
        DeadLetter(stage="input", key=f"{long_bad[:100]} #{_digest(long_bad)}",
                   error="invalid JSON at column 11: Unterminated string starting at"),
    ]), label="DeadLetters")
    result = p.run()
    result.wait_until_finish()
    counters = read_counters(result)
    assert (counters["input_lines"], counters["input_rejected"]) == (4, 2)
