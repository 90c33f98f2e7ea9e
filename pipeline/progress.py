"""A progress line on the terminal while a pass runs, read from the index itself.

The pipeline may run on remote workers, where no counter reaches the
driver before the end; the documents it has indexed so far do. Only on a
terminal: logs and cron mail get the summary, not a spinner.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["pass_progress", "enabled"]

INTERVAL_S = 2.0
_enabled = True


def enabled(on: bool) -> None:
    """Turned off with JSON logs: a machine reads those, and carriage returns only garble them."""
    global _enabled
    _enabled = on


@contextmanager
def pass_progress(client: Any, alias: str, run_id: str, stream: TextIO | None = None,
                  interval_s: float = INTERVAL_S) -> Iterator[None]:
    """Rewrites one line every `interval_s` with the pass's indexed documents and elapsed time."""
    stream = stream or sys.stderr
    if not (_enabled and stream.isatty()):
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not stop.wait(interval_s):
            try:
                count = client.count(index=alias, query={"term": {"run_id": run_id}})["count"]
            except Exception:  # noqa: BLE001 - a progress line never fails a pass
                count = None
            done = "?" if count is None else f"{count:,}"
            stream.write(f"\rrun {run_id}: {done} documents indexed, "
                         f"{time.monotonic() - started:.0f} s ")
            stream.flush()

    thread = threading.Thread(target=report, name="pass-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        stream.write("\r\033[K")
        stream.flush()
