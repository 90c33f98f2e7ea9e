"""Normalize: one feed entry (or one `enrich` input record) becomes one Article.

The per-element work is two pure functions, `normalize_entry` and
`article_from_input`; the Beam transforms around them only count outcomes and
route unusable elements to a dead-letter output.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.language import detect_language, normalize_language_tag
from transforms.metrics import counter, stage_timer
from transforms.model import Article, DeadLetter, RawEntry
from transforms.text import html_to_text
from transforms.urls import canonical_url, document_id, outlet_from_url

__all__ = [
    "UnusableEntry",
    "to_utc_iso",
    "content_hash",
    "normalize_entry",
    "article_from_input",
    "Normalize",
    "NormalizeInput",
    "DEAD_LETTER",
]

DEAD_LETTER = "dead_letter"
_STAGE = "normalize"


class UnusableEntry(ValueError):
    """An entry or input record that cannot become an Article (the message says why)."""


def to_utc_iso(value: str) -> str:
    """`value` (ISO-8601) as UTC with a Z suffix, to the second; naive times are taken as UTC.

    Raises ValueError for anything that is not ISO-8601.
    """
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_hash(text: str, title: str) -> str:
    """SHA-256 of the case-folded, whitespace-collapsed text (of the title if the text is empty).

    Equal hashes mean the same words, whatever the markup, case or spacing,
    which is what exact-duplicate detection needs.
    """
    basis = " ".join(text.casefold().split()) or " ".join(title.casefold().split())
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _entry_key(entry: RawEntry) -> str:
    """How an entry is named in errors: its link, else feed#guid, else feed#title."""
    if entry.link:
        return entry.link
    return f"{entry.feed_url}#{entry.guid or entry.title}"


def _entry_fetched_at(entry: RawEntry) -> str:
    try:
        return to_utc_iso(entry.fetched_at)
    except (AttributeError, ValueError) as exc:
        raise UnusableEntry(
            f"entry {_entry_key(entry)}: fetched_at is not ISO-8601: {entry.fetched_at!r}"
        ) from exc


def _entry_published(entry: RawEntry, fetched_at: str) -> tuple[str, str]:
    # A date that does not parse falls through to the next source; the
    # returned source says which one was used.
    for value, source in ((entry.published, "published"), (entry.updated, "updated")):
        if value:
            try:
                return to_utc_iso(value), source
            except ValueError:
                continue
    return fetched_at, "fetched"


def _language(
    declared: list[tuple[str | None, str]], title: str, text: str
) -> tuple[str | None, str]:
    """The first declared tag that normalises, else the detected language, with its source."""
    for tag, source in declared:
        code = normalize_language_tag(tag)
        if code:
            return code, source
    detected = detect_language(f"{title}\n{text}")
    return (detected, "detected") if detected else (None, "unknown")


def normalize_entry(entry: RawEntry) -> Article:
    """The Article for one feed entry; raises UnusableEntry if it has neither title nor text."""
    title = html_to_text(entry.title or "")
    text = html_to_text(entry.content_html or "")
    if not title and not text:
        raise UnusableEntry(f"entry {_entry_key(entry)}: neither title nor text")
    url = canonical_url(entry.link, entry.base_url or None)
    if url:
        key = url
    elif entry.guid:
        key = f"{entry.feed_url}#{entry.guid}"
    else:
        key = f"{entry.feed_url}#{title}"
    fetched_at = _entry_fetched_at(entry)
    published, published_source = _entry_published(entry, fetched_at)
    language, language_source = _language(
        [(entry.entry_language, "entry"), (entry.feed_language, "feed")], title, text
    )
    return Article(
        id=document_id(key),
        url=url,
        title=title,
        text=text,
        published=published,
        published_source=published_source,
        language=language,
        language_source=language_source,
        outlet=entry.feed_name or entry.feed_title or outlet_from_url(url or entry.feed_url),
        content_hash=content_hash(text, title),
        feed_url=entry.feed_url,
        fetched_at=fetched_at,
    )


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _optional_str(record: Mapping[str, Any], name: str, where: str) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UnusableEntry(f"{where}: '{name}' must be a string, got {type(value).__name__}")
    return value


def article_from_input(record: Mapping[str, Any], read_at: str | None = None) -> Article:
    """The Article for one `enrich` input record (a JSON object).

    Required: `id` (string or integer, kept as given), `title` and `text`
    (strings, not both empty). Optional: `url`, `published`, `language`, `outlet`.
    Without `published` the article is dated `read_at` (default: now) with
    published_source "missing", so that every Article has a date and the
    reader can still tell it was not given.
    """
    if not isinstance(record, Mapping):
        raise UnusableEntry(f"input record is a {type(record).__name__}, expected a JSON object")
    raw_id = record.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or raw_id == "":
        raise UnusableEntry(f"input record {_describe(record)}: 'id' missing or not a string")
    where = f"input record {raw_id}"
    for name in ("title", "text"):
        if name not in record:
            raise UnusableEntry(f"{where}: missing '{name}'")
        if not isinstance(record[name], str):
            kind = type(record[name]).__name__
            raise UnusableEntry(f"{where}: '{name}' must be a string, got {kind}")
    title = html_to_text(record["title"])
    text = html_to_text(record["text"])
    if not title and not text:
        raise UnusableEntry(f"{where}: neither title nor text")
    url = canonical_url(_optional_str(record, "url", where))
    published_value = _optional_str(record, "published", where)
    if published_value:
        try:
            published, published_source = to_utc_iso(published_value), "input"
        except ValueError as exc:
            raise UnusableEntry(
                f"{where}: 'published' is not ISO-8601: {published_value!r}"
            ) from exc
    else:
        published, published_source = read_at or _utc_now(), "missing"
    language, language_source = _language(
        [(_optional_str(record, "language", where), "input")], title, text
    )
    return Article(
        id=str(raw_id),
        url=url,
        title=title,
        text=text,
        published=published,
        published_source=published_source,
        language=language,
        language_source=language_source,
        outlet=_optional_str(record, "outlet", where) or outlet_from_url(url),
        content_hash=content_hash(text, title),
    )


def _describe(record: Mapping[str, Any]) -> str:
    """A short excerpt that lets a reader find a record that has no usable id."""
    excerpt = json.dumps(record, ensure_ascii=False, default=str)
    return excerpt if len(excerpt) <= 80 else excerpt[:77] + "..."


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


class _NormalizeEntryFn(beam.DoFn):
    def __init__(self) -> None:
        self._ok = counter("normalized")
        self._failed = counter("normalize_failed")

    def process(self, entry: RawEntry) -> Iterator[Any]:
        try:
            with stage_timer(_STAGE):
                article = normalize_entry(entry)
        except UnusableEntry as exc:
            self._failed.inc()
            yield pvalue.TaggedOutput(
                DEAD_LETTER,
                DeadLetter(stage=_STAGE, key=_entry_key(entry), error=_one_line(exc),
                           feed_url=entry.feed_url),
            )
            return
        self._ok.inc()
        yield article


class _NormalizeInputFn(beam.DoFn):
    def __init__(self) -> None:
        self._ok = counter("normalized")
        self._failed = counter("normalize_failed")

    def process(self, record: Mapping[str, Any]) -> Iterator[Any]:
        try:
            with stage_timer(_STAGE):
                article = article_from_input(record)
        except UnusableEntry as exc:
            self._failed.inc()
            key = record.get("id") if isinstance(record, Mapping) else None
            yield pvalue.TaggedOutput(
                DEAD_LETTER,
                DeadLetter(stage=_STAGE, key=str(key) if key not in (None, "") else "<no id>",
                           error=_one_line(exc)),
            )
            return
        self._ok.inc()
        yield article


class Normalize(beam.PTransform):
    """RawEntry -> Article; unusable entries go to the "dead_letter" output as DeadLetter.

    Result: `result.articles` (main) and `result.dead_letter`.
    """

    def expand(self, entries: beam.PCollection) -> pvalue.DoOutputsTuple:
        return entries | "NormalizeEntries" >> beam.ParDo(_NormalizeEntryFn()).with_outputs(
            DEAD_LETTER, main="articles"
        )


class NormalizeInput(beam.PTransform):
    """`enrich` input record (dict) -> Article; unusable records go to "dead_letter"."""

    def expand(self, records: beam.PCollection) -> pvalue.DoOutputsTuple:
        return records | "NormalizeRecords" >> beam.ParDo(_NormalizeInputFn()).with_outputs(
            DEAD_LETTER, main="articles"
        )
