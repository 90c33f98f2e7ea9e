"""The command line's contract: exit codes and one-line errors that say what and where."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from pipeline.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_feeds_file_exits_2_naming_the_place(tmp_path: Path, capsys) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:1/a.xml\n  - urll: oops\n", encoding="utf-8")
    assert main(["run", "--feeds", str(feeds), "--es", "http://127.0.0.1:1"]) == 2
    err = _one_line_error(capsys)
    assert "feeds.yaml" in err and "feeds[1]" in err and "urll" in err


def test_missing_feeds_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["run", "--feeds", str(tmp_path / "nope.yaml"), "--es", "http://127.0.0.1:1"]) == 2
    assert "nope.yaml" in _one_line_error(capsys)


def test_unreachable_elasticsearch_exits_3_without_printing_secrets(tmp_path: Path, capsys) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:1/a.xml\n", encoding="utf-8")
    url = f"http://watcher:s3cret-pw@127.0.0.1:{_free_port()}"
    assert main(["run", "--feeds", str(feeds), "--es", url]) == 3
    err = _one_line_error(capsys)
    assert "s3cret-pw" not in err
    assert "127.0.0.1" in err and "unreachable" in err


def _feeds(tmp_path: Path) -> Path:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: http://127.0.0.1:1/a.xml\n", encoding="utf-8")
    return feeds


@pytest.mark.parametrize("command", ["run", "watch"])
def test_an_option_neither_we_nor_beam_know_exits_2_before_any_work(tmp_path: Path, capsys,
                                                                   command: str) -> None:
    code = main([command, "--feeds", str(_feeds(tmp_path)), "--es", "http://127.0.0.1:1",
                 "--runer", "FlinkRunner"])
    assert code == 2  # not 3: nothing tried to reach Elasticsearch
    assert "unknown option '--runer'" in _one_line_error(capsys)


def test_abbreviated_options_are_not_guessed(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--feed", str(_feeds(tmp_path))])
    assert exited.value.code == 2
    assert "--feeds" in capsys.readouterr().err


def test_with_json_logs_an_error_is_one_json_line(tmp_path: Path, capsys) -> None:
    assert main(["--log-format", "json", "run", "--feeds", str(tmp_path / "nope.yaml"),
                 "--es", "http://127.0.0.1:1"]) == 2
    line = json.loads(_one_line_error(capsys))
    assert line["level"] == "error" and "nope.yaml" in line["message"]
