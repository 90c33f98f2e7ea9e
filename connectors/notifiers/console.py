"""The console notifier: one line per alert on standard output, for runs watched by a person or a log collector."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from connectors.alerting.model import Alert
from connectors.notifiers.base import Notifier, SendResult, alert_line

__all__ = ["ConsoleNotifier", "ConsoleSettings"]


@dataclass(frozen=True)
class ConsoleSettings:
    """No options: the console notifier prints `libya-watch alert: <line>` to stdout."""


class ConsoleNotifier(Notifier):
    kind = "console"
    schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def __init__(self, settings: ConsoleSettings | None = None, *, name: str | None = None,
                 environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
        super().__init__(settings or ConsoleSettings(), name=name, environ=environ)
        self._stream = stream

    @classmethod
    def settings_from(cls, options: Mapping[str, Any], *, base_dir: Path) -> ConsoleSettings:
        return ConsoleSettings()

    def send(self, alerts: Sequence[Alert]) -> list[SendResult]:
        # sys.stdout is looked up at send time, so a redirected stdout is honoured.
        stream = self._stream or sys.stdout
        results = []
        for alert in alerts:
            try:
                stream.write(f"libya-watch alert: {alert_line(alert)}\n")
                stream.flush()
            except (OSError, ValueError) as exc:  # a closed pipe or stream
                results.append(SendResult(alert.id, False, f"console: {exc}"))
            else:
                results.append(SendResult(alert.id, True))
        return results
