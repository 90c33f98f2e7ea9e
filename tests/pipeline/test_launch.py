"""Launch helpers: Beam options, run ids, and how a failing pipeline is reported."""

from __future__ import annotations

import functools
import re
import socket
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from connectors.errors import ElasticsearchUnavailable, FetchError, LibyaWatchError, PipelineFailed
from connectors.es_client import EsSettings, make_client
from pipeline.launch import _finish, beam_options, new_run_id
from pipeline.summary import read_counters
from transforms.index import WriteToElasticsearch
from transforms.metrics import counter
from transforms.model import Article

UNREACHABLE = (r"^bulk write to 'lw-test-articles': Elasticsearch at http://127\.0\.0\.1:\d+ "
               r"is unreachable: connection refused")


# --- beam_options / new_run_id -------------------------------------------------------------


def test_the_local_runner_is_the_default() -> None:
    # In-process, never the DirectRunner, which downloads Prism when it can.
    assert beam_options([]).view_as(StandardOptions).runner == "FnApiRunner"


def test_a_named_runner_and_other_flags_are_kept() -> None:
    options = beam_options(["--runner=PortableRunner", "--job_endpoint=localhost:8099"])
    assert options.view_as(StandardOptions).runner == "PortableRunner"
    assert options.get_all_options()["job_endpoint"] == "localhost:8099"
    assert beam_options(["--direct_num_workers=2"]).view_as(DirectOptions).direct_num_workers == 2


def test_run_ids_are_utc_time_then_a_random_suffix() -> None:
    before = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_id = new_run_id()
    after = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run_id), run_id
    assert before <= run_id[:16] <= after
    assert len({new_run_id() for _ in range(200)}) == 200


# --- _finish -------------------------------------------------------------------------------


class _Raise(beam.DoFn):
    """Raises the named error; built inside the worker, as a real stage would."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def process(self, element: int):
        if self._kind == "unavailable":
            raise ElasticsearchUnavailable(UNREACHABLE)
        if self._kind == "fetch":
            raise FetchError("http://wire.example/rss", "HTTP 500 Internal Server Error",
                             http_status=500)
        if self._kind == "multiline":
            raise ValueError("first line of the trouble\nsecond line\nthird line")
        raise ZeroDivisionError("division by zero in a stage")


def _failing(kind: str, args: list[str] | None = None) -> beam.Pipeline:
    p = beam.Pipeline(options=beam_options(args or []))
    _ = p | beam.Create([1, 2]) | "Stage" >> beam.ParDo(_Raise(kind))
    return p


def test_a_finished_pipeline_returns_its_result() -> None:
    p = beam.Pipeline(options=beam_options([]))
    _ = (p | beam.Create([1, 2, 3])
         | beam.Map(lambda n: counter("entries_seen").inc(n)))
    result = _finish(p)
    assert result.state == PipelineState.DONE
    assert read_counters(result) == {"entries_seen": 6}


def test_our_error_inside_a_stage_surfaces_as_itself() -> None:
    with pytest.raises(ElasticsearchUnavailable) as caught:
        _finish(_failing("unavailable"))
    message = str(caught.value)
    assert message.startswith(UNREACHABLE)
    assert "\n" not in message


def test_our_error_that_beam_cannot_rebuild_still_surfaces_as_itself() -> None:
    # Beam re-raises a stage error as the same type with the step appended when it can; a
    # FeedError's two-argument constructor makes it fall back to a RuntimeError.
    with pytest.raises(FetchError) as caught:
        _finish(_failing("fetch"))
    assert str(caught.value) == "http://wire.example/rss: HTTP 500 Internal Server Error"
    assert caught.value.http_status == 500


def test_an_unreachable_cluster_in_the_sink_fails_the_run_with_our_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    p = beam.Pipeline(options=beam_options([]))
    _ = (p
         | beam.Create([Article(id="doc-1", url="http://wire.example/1", title="Wagner in Libya",
                                text="Text.", published="2020-05-06T17:05:00Z",
                                published_source="published", language="en",
                                language_source="feed", outlet="Wire", content_hash="h1")])
         | WriteToElasticsearch(
             functools.partial(make_client, EsSettings(url=f"http://127.0.0.1:{port}")),
             "lw-test-articles", "run-1"))
    with pytest.raises(ElasticsearchUnavailable, match=UNREACHABLE):
        _finish(p)


def test_any_other_exception_becomes_one_pipeline_failed_line() -> None:
    with pytest.raises(PipelineFailed) as caught:
        _finish(_failing("other"))
    message = str(caught.value)
    assert message.startswith("pipeline failed: division by zero in a stage")
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_a_multi_line_failure_is_cut_to_its_first_line() -> None:
    with pytest.raises(PipelineFailed) as caught:
        _finish(_failing("multiline"))
    assert str(caught.value) == "pipeline failed: first line of the trouble"


def test_a_failure_reported_as_text_still_says_what_failed() -> None:
    with pytest.raises(LibyaWatchError) as caught:
        _finish(_failing("unavailable", ["--direct_running_mode=multi_threading"]))
    assert "is unreachable: connection refused" in str(caught.value)
