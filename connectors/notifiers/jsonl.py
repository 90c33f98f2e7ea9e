"""The JSON-lines notifier: appends one line per alert to a file, never the same alert twice.

Each line holds the alert's record (`alert_id`, `rule_id`, `rule_name`,
`story_id`, `doc_id`, `title`, `url`, `published`, `outlet`, `run_id`,
`matched_at`). Before appending, the ids already in the file are read, so a
retry after a crash (written, but not yet marked sent) writes nothing new.
A line cut off by a crash is not JSON: its alert counts as not written, and
the next line starts on a fresh line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.alerting.model import Alert
from connectors.notifiers.base import Notifier, SendResult

__all__ = ["JsonlNotifier", "JsonlSettings", "ids_in_file"]


@dataclass(frozen=True)
class JsonlSettings:
    """`path`: the file to append to (relative paths are relative to the rules file)."""

    path: Path


def ids_in_file(path: Path) -> set[str]:
    """The alert ids of the complete JSON lines in the file (none if it does not exist)."""
    found: set[str] = set()
    try:
        handle = path.open("r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return found
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut off by a crash: its alert is written again
            if isinstance(record, dict) and isinstance(record.get("alert_id"), str):
                found.add(record["alert_id"])
    return found


def _ends_mid_line(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except FileNotFoundError:
        return False


class JsonlNotifier(Notifier):
    kind = "jsonl"
    schema = {
        "type": "object",
        "required": ["path"],
        "additionalProperties": False,
        "properties": {"path": {"type": "string", "minLength": 1}},
    }

    def __init__(self, settings: JsonlSettings, *, name: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, name=name, environ=environ)

    @classmethod
    def settings_from(cls, options: Mapping[str, Any], *, base_dir: Path) -> JsonlSettings:
        path = Path(os.path.expanduser(options["path"]))
        return JsonlSettings(path=path if path.is_absolute() else base_dir / path)

    def send(self, alerts: Sequence[Alert]) -> list[SendResult]:
        if not alerts:
            return []
        path = self.settings.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            written = ids_in_file(path)
            lines = []
            for alert in alerts:
                if alert.id not in written:
                    written.add(alert.id)
                    lines.append(json.dumps(alert.to_record(), ensure_ascii=False) + "\n")
            if lines:
                prefix = "\n" if _ends_mid_line(path) else ""
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(prefix + "".join(lines))
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            error = f"jsonl {path}: {exc.strerror or exc}"
            return [SendResult(alert.id, False, error) for alert in alerts]
        return [SendResult(alert.id, True) for alert in alerts]
