"""What every notifier is: settings checked against a schema, and `send(alerts) -> results`.

A notifier never raises for a failed delivery: it returns one `SendResult`
per alert, and a failed one stays pending in the alerts index to be sent
again on the next run. Only bad configuration raises (`ConfigError`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from connectors.alerting.model import Alert
from connectors.alerting.schema import Schema
from connectors.errors import ConfigError, one_line

__all__ = ["Notifier", "SendResult", "alert_line", "secret_from", "NAME_PATTERN"]

NAME_PATTERN = r"[a-z0-9][a-z0-9_-]*"


@dataclass(frozen=True)
class SendResult:
    """How delivering one alert went; `error` is one line when it failed."""

    alert_id: str
    ok: bool
    error: str | None = None
    attempts: int = 1

    def __post_init__(self) -> None:
        if self.error is not None:
            object.__setattr__(self, "error", one_line(self.error)[:500])


def alert_line(alert: Alert) -> str:
    """One human line: rule, title, outlet, date and link."""
    parts = [f"[{alert.rule_name}]", alert.title or "(no title)"]
    details = [part for part in (alert.outlet, alert.published) if part]
    if details:
        parts.append(f"({', '.join(details)})")
    if alert.url:
        parts.append(alert.url)
    return one_line(" ".join(parts))


def secret_from(value: str | None, env_name: str | None, environ: Mapping[str, str] | None,
                what: str) -> str | None:
    """A secret given inline or, better, by the name of an environment variable.

    Reading it when the notifier opens (not when the file is loaded) lets
    `alerts test` check a rules file without the secrets at hand.
    """
    if env_name is None:
        return value
    env = os.environ if environ is None else environ
    found = env.get(env_name)
    if not found:
        raise ConfigError(f"environment variable {env_name} is not set", where=what)
    return found


class Notifier(ABC):
    """Base of the notifiers; subclasses set `kind`, `schema` and `settings_from`.

    `schema` is the JSON-Schema-like description of the options (the keys
    `type` and `name` of a notifier entry are added by the loader).
    Constructing a notifier takes its settings, its name and the
    environment, reads its secrets from there, and opens no connection:
    connections live only inside `send`.
    """

    kind: ClassVar[str]
    schema: ClassVar[Schema]

    def __init__(self, settings: Any, *, name: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.name = name or self.kind

    @classmethod
    @abstractmethod
    def settings_from(cls, options: Mapping[str, Any], *, base_dir: Path) -> Any:
        """The frozen settings value for options already checked against `schema`."""

    @abstractmethod
    def send(self, alerts: Sequence[Alert]) -> list[SendResult]:
        """Delivers the alerts; one result per alert, in order."""

    def close(self) -> None:
        """Releases anything held between sends; none of the built-in notifiers holds anything."""
