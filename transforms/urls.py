"""Canonical article URLs, the ids derived from them, and outlet names.

One article reaches us under many URLs: relative links, tracking tags from
newsletters and social shares, fragments, explicit default ports. The
canonical form removes those differences so that the id (a hash of it) stays
the same wherever the article was found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import yaml

__all__ = [
    "ConfigError",
    "TrackingRules",
    "load_tracking_rules",
    "canonical_url",
    "document_id",
    "outlet_from_url",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Located from this file rather than by package name, which a test package can shadow.
_SETTINGS_FILE = Path(__file__).parent / "data" / "normalize.yaml"
_ID_HEX_CHARS = 24  # 96 bits: collisions stay negligible far beyond any archive size


class ConfigError(ValueError):
    """A normalize settings file is missing a key or holds a value of the wrong type."""


@dataclass(frozen=True)
class TrackingRules:
    """Which query parameters are tracking tags: exact names and name prefixes (lower case)."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def is_tracking(self, name: str) -> bool:
        lowered = name.lower()
        return lowered in self.exact or lowered.startswith(self.prefixes)


def _read_yaml(path: str | Path | None) -> tuple[str, Any]:
    if path is None:
        return _SETTINGS_FILE.name, yaml.safe_load(_SETTINGS_FILE.read_text(encoding="utf-8"))
    try:
        with open(path, encoding="utf-8") as handle:
            return str(path), yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read settings: {exc}".replace("\n", " ")) from exc


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return value


def load_tracking_rules(path: str | Path | None = None) -> TrackingRules:
    """The tracking-parameter rules from `path`, or from the packaged normalize.yaml."""
    if path is None:
        return _default_rules()
    return _parse_rules(*_read_yaml(path))


@lru_cache(maxsize=1)
def _default_rules() -> TrackingRules:
    return _parse_rules(*_read_yaml(None))


def _parse_rules(source: str, data: Any) -> TrackingRules:
    section = data.get("tracking_parameters") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: missing mapping 'tracking_parameters'")
    exact = _string_list(section.get("exact", []), f"{source}: tracking_parameters.exact")
    prefixes = _string_list(section.get("prefixes", []), f"{source}: tracking_parameters.prefixes")
    return TrackingRules(
        exact=frozenset(name.lower() for name in exact),
        prefixes=tuple(prefix.lower() for prefix in prefixes),
    )


def canonical_url(
    link: str | None, base: str | None = None, *, rules: TrackingRules | None = None
) -> str | None:
    """The canonical http(s) form of `link`, resolved against `base`; None if there is none.

    None means the link cannot identify a web page: empty, not http(s) (mailto:,
    javascript:, tag: URIs), relative with no base, or with an invalid port.
    Query parameters keep their original encoding; only their order changes.
    """
    if not link or not link.strip():
        return None
    absolute = urljoin(base, link.strip()) if base else link.strip()
    try:
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:  # malformed netloc or port outside 0-65535
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased, without credentials or port
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    query = _clean_query(parts.query, rules or _default_rules())
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _clean_query(query: str, rules: TrackingRules) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = unquote_plus(pair.partition("=")[0])
        if not rules.is_tracking(name):
            kept.append((name, pair))
    kept.sort()
    return "&".join(pair for _, pair in kept)


def document_id(key: str) -> str:
    """A stable id for an article: the first 24 hex digits of the key's SHA-256.

    The key is the canonical URL, or a fallback such as feed_url + '#' + guid.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:_ID_HEX_CHARS]


def outlet_from_url(url: str | None) -> str | None:
    """The publishing site as a name: the URL's host without a leading 'www.'."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host
