"""The watcher's controls without Elasticsearch: the feeds file re-read on change, and signals."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pipeline.watch import _FeedsFile, stop_on_signals


def write(path: Path, text: str, second: int) -> None:
    """Writes with a given modification time, so each edit is seen whatever the clock's grain."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(second * 1_000_000_000,) * 2)


def feeds_yaml(*urls: str) -> str:
    return "feeds:\n" + "".join(f"  - url: {url}\n" for url in urls)


def test_an_edited_feeds_file_is_picked_up_and_a_broken_edit_keeps_the_last_good(
        tmp_path: Path, caplog) -> None:
    path = tmp_path / "feeds.yaml"
    write(path, feeds_yaml("http://a.example/rss"), 1_000)
    feeds = _FeedsFile(path)
    assert [f.url for f in feeds.current().feeds] == ["http://a.example/rss"]
    write(path, feeds_yaml("http://a.example/rss", "http://b.example/rss"), 1_001)
    assert [f.url for f in feeds.current().feeds] == ["http://a.example/rss", "http://b.example/rss"]
    write(path, "feeds:\n  - urll: oops\n", 1_002)
    with caplog.at_level("ERROR", logger="pipeline.watch"):
        assert len(feeds.current().feeds) == 2  # the last good list
    assert "keeping the last good feeds list" in caplog.text and "urll" in caplog.text


def test_first_signal_asks_to_stop_and_a_second_ctrl_c_interrupts() -> None:
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here, in the main thread
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back
