"""Logging set-up: plain lines for people, one JSON object per line for log collectors."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["configure_logging", "JsonFormatter", "PROJECT_LOGGERS"]

# Our own loggers speak at the level asked for; libraries (Beam among them) stay
# quiet unless -v, since their warnings are meant for their developers.
PROJECT_LOGGERS = ("pipeline", "connectors", "transforms")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each record, not at set-up."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra}`; fields passed with `extra=` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(fmt: str = "text", verbose: bool = False,
                      level: int = logging.WARNING) -> None:
    """Root handler on stderr; project loggers at `level` (DEBUG with -v), libraries only when critical.

    A one-shot command says what it did in its summary, so its default is
    WARNING; the watcher has no end to print a summary at and logs at INFO.
    """
    handler = _StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Beam logs a failing DoFn's traceback at ERROR; the run's own one-line
    # error says what failed, so those only show with -v.
    root.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else level)
