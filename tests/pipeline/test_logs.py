"""JSON log lines, and the progress line a pass shows on a terminal."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from pipeline import progress
from pipeline.logs import JsonFormatter, configure_logging


def test_a_json_log_line_carries_the_message_and_the_extra_fields() -> None:
    record = logging.LogRecord("pipeline.watch", logging.INFO, __file__, 1, "pass %s", ("r1",),
                               None)
    record.summary = {"indexed": 3}
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "info" and line["logger"] == "pipeline.watch"
    assert line["message"] == "pass r1" and line["summary"] == {"indexed": 3}
    assert line["time"].endswith("Z")


def test_configured_json_logging_writes_one_object_per_line(capsys) -> None:
    configure_logging("json", level=logging.INFO)
    logging.getLogger("connectors.example").info("hello %d", 1, extra={"feed": "u"})
    logging.getLogger("apache_beam.example").warning("library chatter")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["hello 1"]
    assert json.loads(lines[0])["feed"] == "u"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.es
def test_the_progress_line_counts_the_documents_of_the_pass(es_client, es_alias) -> None:
    es_client.index(index=es_alias, id="a", document={"run_id": "r1"}, refresh=True)
    es_client.index(index=es_alias, id="b", document={"run_id": "other"}, refresh=True)
    terminal = Terminal()
    with progress.pass_progress(es_client, es_alias, "r1", terminal, interval_s=0.05):
        time.sleep(0.5)
    assert "\rrun r1: 1 documents indexed, " in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\033[K")  # the line is wiped at the end


@pytest.mark.es
def test_no_progress_line_off_a_terminal_or_with_json_logs(es_client, es_alias) -> None:
    plain = io.StringIO()
    with progress.pass_progress(es_client, es_alias, "r1", plain, interval_s=0.05):
        time.sleep(0.2)
    assert plain.getvalue() == ""
    progress.enabled(False)
    try:
        terminal = Terminal()
        with progress.pass_progress(es_client, es_alias, "r1", terminal, interval_s=0.05):
            time.sleep(0.2)
        assert terminal.getvalue() == ""
    finally:
        progress.enabled(True)
