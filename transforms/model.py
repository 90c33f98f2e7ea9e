"""Typed elements that flow between the pipeline's stages.

Elements stay typed (frozen dataclasses) from the feed to the sink; only
`Article.to_document()` turns one into the JSON document that is indexed or
written by `enrich`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["FeedSpec", "FetchOutcome", "RawEntry", "Article", "Relevance", "DeadLetter",
           "Actor", "ActorMention", "Claim"]


@dataclass(frozen=True)
class FeedSpec:
    """One feed to fetch, with the validators remembered from the last good run."""

    url: str
    name: str | None = None
    language: str | None = None
    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    retries: int = 2
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchOutcome:
    """What fetching one feed gave: a body, a 304, or a failure.

    `status` is "ok", "not_modified" or "failed". On failure `error` says
    why in one line and `http_status` holds the last status seen, if any.
    The parse stage fills `bozo` (why a usable feed was malformed),
    `entries` and `ttl_s` (the feed's own <ttl>), drops the body, and turns
    an unparseable feed into "failed". `max_age_s` (Cache-Control) and
    `retry_after_s` (Retry-After of a final 429/503) are the server's word
    on when to ask again; the schedule honours them.
    """

    feed_url: str
    status: str
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    final_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    attempts: int = 1
    elapsed_s: float = 0.0
    fetched_at: str = ""
    bozo: str | None = None
    entries: int = 0
    max_age_s: float | None = None
    retry_after_s: float | None = None
    ttl_s: float | None = None


@dataclass(frozen=True)
class RawEntry:
    """One feed entry as feedparser gave it, before normalization.

    Dates are UTC ISO-8601 strings (feedparser already parsed them);
    `content_html` is the richest body the entry carries (content, then
    summary). `base_url` resolves relative links.
    """

    feed_url: str
    feed_name: str | None
    feed_title: str | None
    feed_language: str | None
    base_url: str
    guid: str | None
    link: str | None
    title: str
    content_html: str
    published: str | None
    updated: str | None
    fetched_at: str
    entry_language: str | None = None


@dataclass(frozen=True)
class Relevance:
    """How much an article concerns Libya, and whether it is kept."""

    score: float
    kept: bool
    matched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Article:
    """A normalized article: what gets scored, deduplicated and indexed."""

    id: str
    url: str | None
    title: str
    text: str
    published: str
    published_source: str  # "published", "updated", "fetched" or "input"
    language: str | None
    language_source: str  # "entry", "feed", "input", "detected" or "unknown"
    outlet: str | None
    content_hash: str
    feed_url: str | None = None
    fetched_at: str | None = None
    relevance: Relevance | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_document(self) -> dict[str, Any]:
        """The JSON document as indexed (and as `enrich` writes it).

        A shallow copy field by field: `dataclasses.asdict` deep-copies every
        value, which costs more than the rest of the sink's own work.
        """
        doc = {name: getattr(self, name) for name in _ARTICLE_FIELDS}
        relevance = self.relevance
        doc["relevance"] = None if relevance is None else {
            "score": relevance.score, "kept": relevance.kept, "matched": list(relevance.matched)}
        doc.update(self.extra)
        return doc


_ARTICLE_FIELDS = tuple(f.name for f in fields(Article) if f.name not in ("relevance", "extra"))


@dataclass(frozen=True)
class Actor:
    """One entry of the actor gazetteer: who it is, and the state it answers to."""

    id: str
    name: str
    type: str  # state, organisation, pmc, armed_force, government, armed_group, person ...
    country: str | None = None  # allegiance, e.g. wagner_group -> russia; a state's own id


@dataclass(frozen=True)
class ActorMention:
    """One accepted mention of an actor in a text: text[start:end] == surface."""

    actor_id: str
    surface: str
    start: int
    end: int


@dataclass(frozen=True)
class Claim:
    """A foreign-involvement claim found in one sentence (see the annotation guidelines, section 3)."""

    actor: str  # the actor id that carried it (wagner_group, turkey, ...)
    country: str  # the state behind it (wagner_group -> russia)
    type: str  # troops, mercenaries, weapons, strikes, funding, political
    polarity: str  # asserted or denied
    beneficiary: str | None  # lna, gna, gnu or None
    source: str | None  # the attribution as written, e.g. "a confidential UN report"
    sentence: str
    confidence: float


@dataclass(frozen=True)
class DeadLetter:
    """An element a stage could not process, and why: never dropped silently."""

    stage: str
    key: str
    error: str
    feed_url: str | None = None
