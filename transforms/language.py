"""The language of an article: declared tags normalised, or detected from the text.

Detection uses py3langid restricted to the languages the monitored outlets
publish in (configured in normalize.yaml): a narrow set keeps short news texts
from being read as some unrelated language.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from transforms.urls import ConfigError, _read_yaml, _string_list

__all__ = [
    "DetectionSettings",
    "load_detection_settings",
    "normalize_language_tag",
    "detect_language",
]


@dataclass(frozen=True)
class DetectionSettings:
    """Which languages detection may answer, and when a text is too thin to judge."""

    languages: tuple[str, ...]
    min_letters: int
    min_confidence: float
    max_chars: int


def load_detection_settings(path: str | Path | None = None) -> DetectionSettings:
    """The `language_detection` section of `path`, or of the packaged normalize.yaml."""
    if path is None:
        return _default_settings()
    return _parse_settings(*_read_yaml(path))


@lru_cache(maxsize=1)
def _default_settings() -> DetectionSettings:
    return _parse_settings(*_read_yaml(None))


def _parse_settings(source: str, data: Any) -> DetectionSettings:
    section = data.get("language_detection") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: missing mapping 'language_detection'")
    languages = _string_list(section.get("languages"), f"{source}: language_detection.languages")
    numbers = {}
    for key, kind in (("min_letters", int), ("min_confidence", float), ("max_chars", int)):
        value = section.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{source}: language_detection.{key} must be a non-negative number")
        numbers[key] = kind(value)
    return DetectionSettings(languages=tuple(languages), **numbers)


@lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    # Loading the model takes a moment; one identifier per language set and process.
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    try:
        identifier.set_languages(list(languages))
    except ValueError as exc:
        raise ConfigError(f"language_detection.languages: {exc}") from exc
    return identifier


def normalize_language_tag(tag: str | None) -> str | None:
    """The two-letter primary language of a declared tag ("en-US" -> "en"), or None.

    Feeds declare languages as BCP 47 tags, POSIX locales or free text; only a
    two-letter primary subtag is trusted, anything else is left to detection.
    """
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    if len(primary) == 2 and primary.isascii() and primary.isalpha():
        return primary
    return None


def detect_language(text: str, settings: DetectionSettings | None = None) -> str | None:
    """The language of `text` among the configured ones, or None when it cannot be told.

    None for texts with fewer letters than `min_letters` and for guesses below
    `min_confidence`: a wrong language is worse than an unknown one.
    """
    settings = settings or _default_settings()
    sample = text[: settings.max_chars] if text else ""
    if sum(1 for char in sample if char.isalpha()) < settings.min_letters:
        return None
    language, confidence = _identifier(settings.languages).classify(sample)
    if confidence < settings.min_confidence:
        return None
    return language
