"""The webhook notifier: one Slack-compatible JSON POST per alert, retried with backoff.

The body is what a Slack incoming webhook takes (`text` as the fallback,
`blocks` for the layout); Mattermost, Rocket.Chat, Teams workflows and most
chat relays accept the same. Each request carries the alert id as its
`Idempotency-Key` header, so a receiver that honours it shows an alert once
even when a crash made us post it twice.

Connection errors, timeouts, 429 and 5xx are retried with exponential
backoff (a `Retry-After` is honoured up to a cap); any other status fails
at once. A failed alert is reported, stays pending, and is posted again on
the next run. When one alert has used up its retries the endpoint is
taken to be down: the rest of the batch is reported failed without trying.
The URL (a secret for Slack) is printed only as scheme and host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.alerting.model import Alert
from connectors.errors import ConfigError
from connectors.notifiers.base import Notifier, SendResult, secret_from

__all__ = ["WebhookNotifier", "WebhookSettings", "slack_payload", "IDEMPOTENCY_HEADER"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "libya-watch/0.1 (+alerts)"


@dataclass(frozen=True, repr=False)
class WebhookSettings:
    """Where to post and how hard to try; give `url` or (better) `url_env`."""

    url: str | None = None
    url_env: str | None = None
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    headers: tuple[tuple[str, str], ...] = ()  # extra headers, e.g. an Authorization

    def __repr__(self) -> str:
        url = "None" if self.url is None else "'***'"
        return (f"WebhookSettings(url={url}, url_env={self.url_env!r}, timeout={self.timeout!r}, "
                f"retries={self.retries!r}, backoff={self.backoff!r})")


def _escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_target(url: str) -> str:
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The message for one alert: `text` (notifications, plain clients) and `blocks`."""
    title = alert.title or "(no title)"
    fallback = " ".join(p for p in (f"libya-watch: {alert.rule_name}: {title}", alert.url) if p)
    link = f"<{_link_target(alert.url)}|{_escape(title)}>" if alert.url else _escape(title)
    context = " · ".join(_escape(p) for p in (alert.outlet, alert.published) if p)
    context = f"{context} · story `{_escape(alert.story_id)}`" if context else \
        f"story `{_escape(alert.story_id)}`"
    return {
        "text": fallback,
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"*{_escape(alert.rule_name)}*\n{link}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class WebhookNotifier(Notifier):
    kind = "webhook"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": r"https?://[^\s/]+(/\S*)?",
                    "patternDescription": "an http(s) URL"},
            "url_env": {"type": "string", "pattern": r"[A-Za-z_][A-Za-z0-9_]*",
                        "patternDescription": "an environment variable name"},
            "timeout": {"type": "number", "minimum": 0.001},
            "retries": {"type": "integer", "minimum": 0, "maximum": 10},
            "backoff": {"type": "number", "minimum": 0},
            "backoff_max": {"type": "number", "minimum": 0},
            "retry_after_max": {"type": "number", "minimum": 0},
            "headers": {"type": "object"},
        },
    }

    def __init__(self, settings: WebhookSettings, *, name: str | None = None,
                 environ: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, name=name, environ=environ)
        url = secret_from(settings.url, settings.url_env, environ, f"notifier '{self.name}'")
        if not url or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ConfigError(f"{settings.url_env or 'url'} must be an http(s) URL",
                              where=f"notifier '{self.name}'")
        self._url = url
        self._sleep = sleep

    @classmethod
    def settings_from(cls, options: Mapping[str, Any], *, base_dir: Path) -> WebhookSettings:
        if ("url" in options) == ("url_env" in options):
            raise ConfigError("give either 'url' or 'url_env' (the variable holding the URL)")
        headers = options.get("headers", {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ConfigError("headers must map header names to strings")
        values = {k: options[k] for k in ("url", "url_env", "retries") if k in options}
        values.update({k: float(options[k]) for k in
                       ("timeout", "backoff", "backoff_max", "retry_after_max") if k in options})
        return WebhookSettings(headers=tuple(headers.items()), **values)

    def send(self, alerts: Sequence[Alert]) -> list[SendResult]:
        if not alerts:
            return []
        results: list[SendResult] = []
        down: str | None = None
        headers = {"User-Agent": USER_AGENT, **dict(self.settings.headers)}
        with httpx.Client(timeout=self.settings.timeout, headers=headers) as client:
            for alert in alerts:
                if down is not None:
                    results.append(SendResult(alert.id, False, f"not tried: {down}", attempts=0))
                    continue
                result, retryable = self._post(client, alert)
                results.append(result)
                if not result.ok and retryable:
                    down = f"{_where(self._url)} kept failing ({result.error})"
        return results

    def _post(self, client: httpx.Client, alert: Alert) -> tuple[SendResult, bool]:
        """One alert, with retries; returns the result and whether the last failure was retryable."""
        settings = self.settings
        payload = slack_payload(alert)
        where = f"webhook {_where(self._url)}"
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = client.post(self._url, json=payload,
                                       headers={IDEMPOTENCY_HEADER: alert.id})
            except httpx.TimeoutException:
                error, retryable = f"{where}: timed out", True
            except httpx.TransportError as exc:
                detail = str(exc).replace(self._url, _where(self._url))
                error, retryable = f"{where}: {type(exc).__name__}: {detail}", True
            else:
                if response.is_success:
                    return SendResult(alert.id, True, attempts=attempt), False
                status = response.status_code
                retryable = status == 429 or status >= 500
                error = f"{where}: HTTP {status} {response.reason_phrase}".rstrip()
                wait = _retry_after(response) if retryable else None
            if not retryable or attempt > settings.retries:
                return SendResult(alert.id, False, error, attempts=attempt), retryable
            delay = min(settings.backoff_max, settings.backoff * 2 ** (attempt - 1))
            if wait is not None:
                delay = max(delay, min(wait, settings.retry_after_max))
            self._sleep(delay)
