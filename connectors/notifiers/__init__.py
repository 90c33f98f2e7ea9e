"""Notifiers: where alerts go. One module per notifier, and the name-to-class registry.

In the rules file, under ``notifiers:``, each entry names its ``type`` (a
key of `NOTIFIERS`), an optional ``name`` (default: the type; the key under
which delivery is tracked, so two webhooks need two names) and the type's
own options, checked against the class's `schema`::

    notifiers:
      - type: console
      - type: jsonl
        path: alerts.jsonl
      - type: webhook
        name: slack
        url_env: LIBYA_WATCH_SLACK_WEBHOOK
      - type: email
        host: smtp.example.org
        port: 587
        starttls: true
        username: alerts@example.org
        password_env: LIBYA_WATCH_SMTP_PASSWORD
        from: alerts@example.org
        to: [desk@example.org]

A new notifier is a module with a `Notifier` subclass, added to `NOTIFIERS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from connectors.alerting.schema import check
from connectors.errors import ConfigError
from connectors.notifiers.base import NAME_PATTERN, Notifier, SendResult
from connectors.notifiers.console import ConsoleNotifier
from connectors.notifiers.email import EmailNotifier
from connectors.notifiers.jsonl import JsonlNotifier
from connectors.notifiers.webhook import WebhookNotifier

__all__ = ["NOTIFIERS", "Notifier", "NotifierSpec", "SendResult", "notifier_spec",
           "open_notifiers"]

NOTIFIERS: Mapping[str, type[Notifier]] = MappingProxyType({
    cls.kind: cls for cls in (ConsoleNotifier, JsonlNotifier, WebhookNotifier, EmailNotifier)
})


@dataclass(frozen=True)
class NotifierSpec:
    """One configured notifier: its type, its name, and its checked settings (no secrets read yet)."""

    kind: str
    name: str
    settings: Any

    def open(self, *, environ: Mapping[str, str] | None = None) -> Notifier:
        return NOTIFIERS[self.kind](self.settings, name=self.name, environ=environ)


def notifier_spec(entry: Any, *, source: str | None, where: str, base_dir: Path) -> NotifierSpec:
    """Checks one `notifiers:` entry against its type's schema; `ConfigError` says where."""
    check(entry, {"type": "object", "required": ["type"],
                  "properties": {"type": {"type": "string", "enum": sorted(NOTIFIERS)}}},
          source=source, path=where)
    cls = NOTIFIERS[entry["type"]]
    schema = dict(cls.schema)
    schema["properties"] = {
        "type": {"type": "string"},
        "name": {"type": "string", "pattern": NAME_PATTERN,
                 "patternDescription": "a name of lower-case letters, digits, '_' and '-'"},
        **cls.schema.get("properties", {}),
    }
    check(entry, schema, source=source, path=where)
    options = {k: v for k, v in entry.items() if k not in ("type", "name")}
    try:
        settings = cls.settings_from(options, base_dir=base_dir)
    except ConfigError as exc:
        raise ConfigError(exc.problem, source=source, where=where) from exc
    return NotifierSpec(kind=cls.kind, name=entry.get("name", cls.kind), settings=settings)


@contextmanager
def open_notifiers(specs: Iterable[NotifierSpec], *,
                   environ: Mapping[str, str] | None = None) -> Iterator[dict[str, Notifier]]:
    """The notifiers, by name, ready to send; closed when the block ends.

    All are opened before any sends, so a missing secret fails before the
    first alert goes out.
    """
    opened: dict[str, Notifier] = {}
    try:
        for spec in specs:
            opened[spec.name] = spec.open(environ=environ)
        yield opened
    finally:
        for notifier in opened.values():
            notifier.close()
