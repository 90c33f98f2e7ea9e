"""Turn a fetched feed body into `RawEntry` elements with feedparser.

feedparser reads RSS 0.9x, RSS 1.0 (RDF), RSS 2.0 and Atom, and is lenient:
a "bozo" feed (not well-formed, or with a wrong charset declaration) often
still yields good entries. We keep those and record the bozo reason in one
line; a feed with no usable entries *and* a bozo reason is an error.

Charset: the body goes to feedparser as bytes together with the response's
Content-Type, so it can weigh the HTTP charset, the XML declaration and
fallbacks (a feed declared UTF-8 whose bytes are windows-1252 is decoded
as windows-1252). feedparser cannot notice the reverse, a UTF-8 body
declared as a single-byte charset, which decodes "successfully" into
mojibake; when the bytes are valid UTF-8 with non-ASCII characters we parse
them as UTF-8 and record that as a bozo reason.

Entries are mapped as given: titles as feedparser decoded them, the richest
body as HTML (sanitized by feedparser, not stripped), links possibly
relative (``base_url`` resolves them), dates as UTC ISO-8601 with a Z.
Stripping HTML and canonicalizing URLs belong to the normalize transform.
"""

from __future__ import annotations

import codecs
import io
import re
import time
import xml.sax
from dataclasses import dataclass
from typing import Any

import feedparser

from connectors.errors import FeedParseError, one_line
from transforms.model import FeedSpec, FetchOutcome, RawEntry

__all__ = ["ParsedFeed", "parse_feed"]

_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Codecs that decode any byte sequence, so feedparser cannot tell they were wrong.
_SINGLE_BYTE_CODEC = re.compile(r"^(iso8859-\d+|cp125\d|cp4\d\d|cp8[56]\d|koi8-[a-z]+|mac-[a-z]+)$")


@dataclass(frozen=True)
class ParsedFeed:
    """The usable entries of one feed, and what was wrong with it.

    ``bozo`` is feedparser's complaint about a feed we still used (one line);
    ``error`` is set when nothing usable came out; ``skipped`` says, one line
    each, which entries were left out (no title, link or content).
    """

    entries: tuple[RawEntry, ...]
    bozo: str | None = None
    error: str | None = None
    skipped: tuple[str, ...] = ()
    ttl_s: float | None = None  # the feed's RSS <ttl> (minutes) in seconds, if valid


def parse_feed(outcome: FetchOutcome, spec: FeedSpec) -> ParsedFeed:
    """Parse the body of a fetched feed.

    A "not_modified" outcome has nothing new: no entries, no error. A
    "failed" outcome carries its fetch error into ``error``.
    """
    if outcome.status == "not_modified":
        return ParsedFeed(entries=())
    if outcome.status != "ok" or outcome.body is None:
        error = outcome.error or f"{outcome.feed_url}: nothing to parse (status {outcome.status})"
        return ParsedFeed(entries=(), error=error)

    if not outcome.body.strip():
        return ParsedFeed(entries=(), error=str(FeedParseError(outcome.feed_url, "empty body")))

    result, notes = _parse_bytes(outcome.body, outcome.content_type)
    feed = result.get("feed", {})
    feed_language = feed.get("language") or spec.language
    entries: list[RawEntry] = []
    skipped: list[str] = []
    for index, entry in enumerate(result.get("entries", [])):
        raw = _raw_entry(entry, feed, feed_language, outcome, spec)
        if raw is None:
            label = f" ({entry['id']})" if entry.get("id") else ""
            skipped.append(f"entry {index}{label}: no title, link or content")
        else:
            entries.append(raw)

    bozo = "; ".join(notes) or None
    error = None
    if not entries and not skipped:
        if bozo:
            error = str(FeedParseError(outcome.feed_url, f"malformed feed: {bozo}"))
        elif not result.get("version"):
            error = str(FeedParseError(outcome.feed_url, "not an RSS or Atom feed"))
    return ParsedFeed(entries=tuple(entries), bozo=bozo, error=error, skipped=tuple(skipped),
                      ttl_s=_ttl_seconds(feed.get("ttl")))


def _ttl_seconds(value: Any) -> float | None:
    """RSS <ttl> is whole minutes; anything else is ignored rather than guessed."""
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60.0 if minutes > 0 else None


def _parse_bytes(body: bytes, content_type: str | None) -> tuple[Any, list[str]]:
    """feedparser on the raw bytes, correcting UTF-8 bodies declared as a single-byte charset."""
    headers = {"content-type": content_type} if content_type else {}
    result = _feedparser(body, headers)
    declared = result.get("encoding") or ""
    codec = _codec_name(declared)
    if codec and _SINGLE_BYTE_CODEC.match(codec) and _is_utf8_beyond_ascii(body):
        media_type = (content_type or "application/xml").split(";", 1)[0].strip()
        result = _feedparser(body, {"content-type": f"{media_type}; charset=utf-8"})
        notes = [
            f"CharacterEncodingOverride: document declared as {declared}, "
            "but the bytes are UTF-8; parsed as utf-8"
        ]
    else:
        notes = []
    if result.get("bozo"):
        notes.append(_describe(result.get("bozo_exception")))
    return result, notes


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    # A file object, never bare bytes: feedparser would try bytes as a file name first.
    # No Content-Location: links and guids stay as the feed gave them.
    # No sanitizing and no resolving of links inside the HTML: normalize turns the
    # HTML into plain text (scripts dropped) and resolves the entry's own link, so
    # that work (half of feedparser's time) would be thrown away.
    return feedparser.parse(
        io.BytesIO(body), response_headers=headers, sanitize_html=False,
        resolve_relative_uris=False,
    )


def _codec_name(encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return None


def _is_utf8_beyond_ascii(body: bytes) -> bool:
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _describe(exc: object) -> str:
    """One line for feedparser's bozo exception, with the place for XML errors."""
    if isinstance(exc, xml.sax.SAXParseException):
        return one_line(
            f"XML not well-formed at line {exc.getLineNumber()}, "
            f"column {exc.getColumnNumber()}: {exc.getMessage()}"
        )
    if exc is None:
        return "malformed feed"
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _raw_entry(
    entry: Any, feed: Any, feed_language: str | None, outcome: FetchOutcome, spec: FeedSpec
) -> RawEntry | None:
    title = entry.get("title") or ""
    link = entry.get("link") or None
    content_html = _richest_body(entry)
    if not (title.strip() or link or content_html.strip()):
        return None
    return RawEntry(
        feed_url=outcome.feed_url,
        feed_name=spec.name,
        feed_title=feed.get("title") or None,
        feed_language=feed_language,
        base_url=outcome.final_url or outcome.feed_url,
        guid=entry.get("id") or None,
        link=link,
        title=title,
        content_html=content_html,
        # dict.get: feedparser's own .get() falls back from "updated" to "published".
        published=_utc_iso(dict.get(entry, "published_parsed")),
        updated=_utc_iso(dict.get(entry, "updated_parsed")),
        fetched_at=outcome.fetched_at,
        entry_language=_entry_language(entry, feed_language),
    )


def _richest_body(entry: Any) -> str:
    """The entry's content (HTML types first), else its summary, else ""."""
    contents = sorted(entry.get("content") or [], key=lambda c: c.get("type") not in _HTML_TYPES)
    for content in contents:
        if (content.get("value") or "").strip():
            return content["value"]
    return entry.get("summary") or ""


def _entry_language(entry: Any, feed_language: str | None) -> str | None:
    """The entry's own xml:lang, if it differs from the feed's.

    feedparser only exposes the language in effect for each text construct
    (inherited from the feed unless the entry overrides it), so a value equal
    to the feed's is not the entry's own.
    """
    details = [
        *(entry.get("content") or []),
        entry.get("summary_detail"),
        entry.get("title_detail"),
    ]
    for detail in details:
        language = detail.get("language") if detail else None
        if language:
            return None if feed_language and language.lower() == feed_language.lower() else language
    return None


def _utc_iso(parsed: time.struct_time | None) -> str | None:
    """feedparser's UTC struct_time as ISO-8601 with a Z."""
    if parsed is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
