"""Load and validate the feeds file: which feeds to watch and how to fetch them.

The file is YAML::

    settings:                 # optional; every key optional
      timeout: 20             # seconds, total deadline per request
      max_bytes: 10485760     # decoded body limit
      retries: 2              # extra attempts on timeouts, connection errors, 429, 5xx
      user_agent: "libya-watch/0.1 (+feed monitor)"
      concurrency: 16         # requests in flight in total
      per_host: 2             # requests in flight per host
      failures_before_backoff: 3   # consecutive failures before a feed is backed off
      failure_backoff: 300    # seconds of the first backoff, doubling after each failure
      failure_backoff_max: 21600
      schedule_max: 86400     # the longest Cache-Control, Retry-After or <ttl> may delay a feed
    feeds:
      - url: https://news.example.org/libya/rss.xml
        name: Example News    # optional; the outlet name
        language: en          # optional; used when the feed declares none
        timeout: 10           # optional per-feed overrides of the settings above
        max_bytes: 2000000
        retries: 1
      - url: file:archive/feed.xml

``url`` is http, https or file. ``file:///abs/path`` names an absolute path;
``file:relative/path`` (no ``//``) is resolved relative to the folder of the
feeds file, so a feeds file and its local feeds can move together. Both are
stored as absolute ``file:///`` URLs.

Any problem raises `ConfigError` with one line naming the file and the place,
e.g. ``feeds.yaml: feeds[3]: unknown key 'urll'``. Nothing is guessed or
silently ignored: unknown keys, duplicate keys and duplicate URLs are errors.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from connectors.errors import ConfigError
from connectors.schedule import SchedulePolicy
from connectors.yamlfile import read_yaml
from transforms.model import FeedSpec

__all__ = ["FetchSettings", "FeedsConfig", "load_feeds"]

DEFAULT_USER_AGENT = "libya-watch/0.1 (+feed monitor)"

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class FetchSettings:
    """How feeds are fetched; the first three are defaults for each feed.

    ``backoff_base`` (seconds) scales the exponential backoff between retries
    and ``retry_after_max`` caps how long a server's Retry-After can make us
    wait; ``connect_timeout`` and ``read_timeout`` bound a single connect and
    a single read inside the feed's total ``timeout``.
    """

    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    retries: int = 2
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: int = 16
    per_host: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 30.0
    max_redirects: int = 5
    failures_before_backoff: int = 3
    failure_backoff: float = 300.0
    failure_backoff_max: float = 6 * 3600.0
    schedule_max: float = 24 * 3600.0

    @property
    def schedule(self) -> SchedulePolicy:
        """When feeds are fetched again (see `connectors.schedule`)."""
        return SchedulePolicy(failures_before_backoff=self.failures_before_backoff,
                              failure_backoff=self.failure_backoff,
                              failure_backoff_max=self.failure_backoff_max,
                              schedule_max=self.schedule_max)


@dataclass(frozen=True)
class FeedsConfig:
    """The validated feeds file."""

    feeds: tuple[FeedSpec, ...]
    settings: FetchSettings


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _non_negative_number(value: Any) -> bool:
    return _positive_number(value) or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0
    )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


# key -> (check, what a valid value is; used in messages)
_Rule = tuple[Callable[[Any], bool], str]

_SETTINGS_RULES: dict[str, _Rule] = {
    "timeout": (_positive_number, "a positive number of seconds"),
    "max_bytes": (_positive_int, "a positive integer"),
    "retries": (_non_negative_int, "a non-negative integer"),
    "user_agent": (_non_empty_str, "a non-empty string"),
    "concurrency": (_positive_int, "a positive integer"),
    "per_host": (_positive_int, "a positive integer"),
    "connect_timeout": (_positive_number, "a positive number of seconds"),
    "read_timeout": (_positive_number, "a positive number of seconds"),
    "backoff_base": (_non_negative_number, "a non-negative number of seconds"),
    "backoff_max": (_non_negative_number, "a non-negative number of seconds"),
    "retry_after_max": (_non_negative_number, "a non-negative number of seconds"),
    "max_redirects": (_non_negative_int, "a non-negative integer"),
    "failures_before_backoff": (_positive_int, "a positive integer"),
    "failure_backoff": (_non_negative_number, "a non-negative number of seconds"),
    "failure_backoff_max": (_non_negative_number, "a non-negative number of seconds"),
    "schedule_max": (_non_negative_number, "a non-negative number of seconds"),
}

_FLOAT_SETTINGS = frozenset(
    {"timeout", "connect_timeout", "read_timeout", "backoff_base", "backoff_max", "retry_after_max",
     "failure_backoff", "failure_backoff_max", "schedule_max"}
)

_FEED_RULES: dict[str, _Rule] = {
    "name": (_non_empty_str, "a non-empty string"),
    "language": (
        lambda v: isinstance(v, str) and bool(_LANGUAGE_TAG.match(v)),
        "a language tag such as 'en' or 'ar-LY'",
    ),
    "timeout": _SETTINGS_RULES["timeout"],
    "max_bytes": _SETTINGS_RULES["max_bytes"],
    "retries": _SETTINGS_RULES["retries"],
}
_FEED_KEYS = ("url", *_FEED_RULES)


def load_feeds(path: str | os.PathLike[str]) -> FeedsConfig:
    """Read, validate and return the feeds file at `path`.

    Raises `ConfigError` (one line: file, place, problem) on any problem.
    """
    source = os.fspath(path)
    data = read_yaml(Path(source), source)
    return _build_config(data, source, Path(source).resolve().parent)


def _build_config(data: Any, source: str, base_dir: Path) -> FeedsConfig:
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping with a 'feeds' list", source=source, where="top level"
        )
    unknown = sorted(str(k) for k in data if k not in ("feeds", "settings"))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}", source=source, where="top level")

    settings = _build_settings(data.get("settings", {}), source)

    raw_feeds = data.get("feeds")
    if raw_feeds is None:
        raise ConfigError("missing 'feeds' list", source=source, where="top level")
    if not isinstance(raw_feeds, list):
        raise ConfigError("must be a list of feeds", source=source, where="feeds")
    if not raw_feeds:
        raise ConfigError("the list is empty; name at least one feed", source=source, where="feeds")

    specs: list[FeedSpec] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_feeds):
        where = f"feeds[{index}]"
        spec = _build_feed(raw, settings, source, where, base_dir)
        if spec.url in first_index:
            raise ConfigError(
                f"duplicate url {spec.url!r} (first in feeds[{first_index[spec.url]}])",
                source=source,
                where=where,
            )
        first_index[spec.url] = index
        specs.append(spec)
    return FeedsConfig(feeds=tuple(specs), settings=settings)


def _build_settings(raw: Any, source: str) -> FetchSettings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping", source=source, where="settings")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SETTINGS_RULES:
            raise ConfigError(f"unknown key {key!r}", source=source, where="settings")
        check, expected = _SETTINGS_RULES[key]
        if not check(value):
            raise ConfigError(
                f"{key} must be {expected}, got {value!r}", source=source, where="settings"
            )
        values[key] = float(value) if key in _FLOAT_SETTINGS else value
    return FetchSettings(**values)


def _build_feed(
    raw: Any, settings: FetchSettings, source: str, where: str, base_dir: Path
) -> FeedSpec:
    if isinstance(raw, str):
        raise ConfigError(
            f"must be a mapping with a 'url' key, got the string {raw!r} (write 'url: {raw}')",
            source=source,
            where=where,
        )
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping with a 'url' key", source=source, where=where)
    for key in raw:
        if key not in _FEED_KEYS:
            raise ConfigError(f"unknown key {key!r}", source=source, where=where)
    if "url" not in raw:
        raise ConfigError("missing 'url'", source=source, where=where)
    url = _check_url(raw["url"], source, where, base_dir)
    for key, (check, expected) in _FEED_RULES.items():
        if key in raw and not check(raw[key]):
            raise ConfigError(
                f"{key} must be {expected}, got {raw[key]!r}", source=source, where=where
            )
    return FeedSpec(
        url=url,
        name=raw.get("name"),
        language=raw.get("language"),
        timeout=float(raw.get("timeout", settings.timeout)),
        max_bytes=raw.get("max_bytes", settings.max_bytes),
        retries=raw.get("retries", settings.retries),
    )


def _check_url(url: Any, source: str, where: str, base_dir: Path) -> str:
    def fail(problem: str) -> ConfigError:
        return ConfigError(problem, source=source, where=where)

    if not isinstance(url, str) or not url:
        raise fail(f"url must be a non-empty string, got {url!r}")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise fail(f"url contains whitespace or control characters: {url!r}")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise fail(f"invalid url {url!r}: {exc}") from exc
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise fail(f"url has no host: {url!r}")
        return url
    if parts.scheme == "file":
        return _file_url(url, parts, base_dir, fail)
    if not parts.scheme:
        raise fail(f"url has no scheme (use http, https or file): {url!r}")
    raise fail(f"unsupported url scheme {parts.scheme!r} (use http, https or file): {url!r}")


def _file_url(
    url: str,
    parts: urllib.parse.SplitResult,
    base_dir: Path,
    fail: Callable[[str], ConfigError],
) -> str:
    """Turn a file URL into an absolute ``file:///`` URL (relative ones against `base_dir`)."""
    if parts.netloc not in ("", "localhost"):
        raise fail(f"file url must not name a host: {url!r}")
    if parts.query or parts.fragment:
        raise fail(f"file url must not have a query or fragment: {url!r}")
    if not parts.path:
        raise fail(f"file url has no path: {url!r}")
    path = Path(urllib.request.url2pathname(parts.path))
    if not path.is_absolute():
        if url.startswith("file://"):
            raise fail(f"file url with '//' must be absolute (file:///...): {url!r}")
        path = base_dir / path
    return Path(os.path.normpath(path)).as_uri()
