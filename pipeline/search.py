"""`libya-watch search`: the indexed documents from the terminal, newest first.

The query is Lucene `query_string` syntax, as typed in Kibana's search bar
(``wagner AND claim_types:mercenaries``, ``title:"air defence"``,
``actor_ids:turkey``). The options add what is awkward to type: actors
(all must be tagged), claim types (any), an age limit, and whether copies
of a story are shown or only its first document.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError

from connectors.errors import ConfigError, one_line
from connectors.es_client import client_url, describe_api_error, translating_errors
from connectors.es_index import validate_index_name

__all__ = ["SearchHit", "SearchRequest", "SearchResult", "MAX_SIZE", "check_vocabulary",
           "parse_since", "search_body", "search_documents"]

# Elasticsearch's default `index.max_result_window`: deeper pages need search_after.
MAX_SIZE = 10_000
# Bulky fields nobody reads in a terminal: the full text and the MinHash signature.
HIDDEN_FIELDS = ("text", "minhash", "minhash_bands")
_SINCE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minute", "h": "hour", "d": "day", "w": "week"}


def parse_since(value: str) -> str:
    """``7d`` -> ``now-7d``: an age (minutes, hours, days, weeks) as Elasticsearch date math.

    Only lower-case m/h/d/w are accepted: in date math ``M`` is months, so
    accepting either case would make ``90M`` silently mean seven years.
    """
    match = _SINCE.fullmatch(value.strip())
    if not match or int(match[1]) == 0:
        raise ConfigError(f"expected a positive number and a unit (m, h, d or w), e.g. 90m, "
                          f"24h, 7d, 2w; got {value!r}", where="--since")
    return f"now-{int(match[1])}{match[2]}"


@dataclass(frozen=True)
class SearchRequest:
    """What to look for; checked on creation, so a bad age or size fails before any request."""

    query: str = "*"
    actors: tuple[str, ...] = ()
    claim_types: tuple[str, ...] = ()
    since: str | None = None
    size: int = 20
    all_copies: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_SIZE:
            raise ConfigError(f"must be between 1 and {MAX_SIZE}, got {self.size}", where="--size")
        if self.since is not None:
            parse_since(self.since)

    @property
    def since_math(self) -> str | None:
        return None if self.since is None else parse_since(self.since)

    def describe(self) -> str:
        """The request in a few words, for the header line."""
        parts = [f"query {self.query!r}" if self.query.strip() not in ("", "*") else "everything"]
        if self.actors:
            parts.append("actors " + " and ".join(self.actors))
        if self.claim_types:
            parts.append("claim types " + " or ".join(self.claim_types))
        if self.since:
            parts.append(f"published in the last {self.since}")
        return ", ".join(parts)


def check_vocabulary(request: SearchRequest, actors: frozenset[str],
                     claim_types: Sequence[str]) -> None:
    """Refuses actor ids and claim types the taggers never write: they would match nothing."""
    for value in request.actors:
        if value not in actors:
            close = difflib.get_close_matches(value, sorted(actors), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown actor id {value!r}{hint}", where="--actor")
    for value in request.claim_types:
        if value not in claim_types:
            raise ConfigError(f"unknown claim type {value!r} (one of {', '.join(claim_types)})",
                              where="--claim-type")


def search_body(request: SearchRequest) -> dict[str, Any]:
    """The search as Elasticsearch takes it (pure: no client).

    The query string uses ``default_operator: AND``: hits are sorted by
    date, not by score, so with Lucene's default OR, ``wagner haftar``
    would list every document naming either one, newest first, and the
    documents naming both would be lost among them. AND narrows as more
    words are typed, as a search box is expected to; ``OR`` can still be
    written out. (Kibana and the alert rules keep Lucene's default, OR:
    there, a score or a rule author's explicit operators decide.)
    """
    filters: list[dict[str, Any]] = []
    text = request.query.strip()
    if text not in ("", "*"):
        filters.append({"query_string": {"query": text, "default_operator": "AND",
                                         "analyze_wildcard": True}})
    filters += [{"term": {"actor_ids": actor}} for actor in request.actors]
    if request.claim_types:
        filters.append({"terms": {"claim_types": list(request.claim_types)}})
    if request.since is not None:
        filters.append({"range": {"published": {"gte": request.since_math}}})
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if not request.all_copies:
        query["bool"]["must_not"] = [{"exists": {"field": "duplicate_of"}}]
    return {
        "query": query,
        "size": request.size,
        "sort": [{"published": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
                 {"id": {"order": "asc", "unmapped_type": "keyword"}}],
        "_source": {"excludes": list(HIDDEN_FIELDS)},
        "track_total_hits": True,
    }


@dataclass(frozen=True)
class SearchHit:
    id: str
    source: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The document as JSON lines print it: its id, then its fields minus the bulky ones."""
        return {"id": self.id, **{k: v for k, v in self.source.items()
                                  if k not in HIDDEN_FIELDS and k != "id"}}

    def to_text(self) -> str:
        source = self.source
        published = str(source.get("published") or "no date")
        day = published.replace("T", " ")[:16]
        lines = [f"{day}  {source.get('outlet') or 'unknown outlet'}",
                 f"  {one_line(source.get('title') or '(no title)')}",
                 f"  {source.get('url') or '(no url)'}"]
        if source.get("actor_ids"):
            lines.append(f"  actors: {', '.join(source['actor_ids'])}")
        if source.get("claim_keys"):
            lines.append(f"  claims: {', '.join(source['claim_keys'])}")
        if source.get("duplicate_of"):
            lines.append(f"  copy of {source['duplicate_of']}")
        elif (source.get("story_size") or 1) > 1:
            outlets = ", ".join(source.get("story_outlets") or ())
            lines.append(f"  story of {source['story_size']} documents"
                         + (f" ({outlets})" if outlets else ""))
        lines.append(f"  id {self.id}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SearchResult:
    """The hits shown (at most `request.size`) and how many matched in all."""

    alias: str
    request: SearchRequest
    total: int
    hits: tuple[SearchHit, ...] = field(default_factory=tuple)
    index_missing: bool = False

    def to_text(self) -> str:
        if self.index_missing:
            return f"no index '{self.alias}' yet: nothing has been indexed there"
        one, many = ("document", "documents") if self.request.all_copies else ("story", "stories")
        what = f"{one} matches" if self.total == 1 else f"{many} match"
        header = (f"{self.total} {what} ({self.request.describe()}) in '{self.alias}'"
                  + (f"; the {len(self.hits)} newest:" if self.hits else ""))
        return "\n\n".join([header] + [hit.to_text() for hit in self.hits])

    def to_json_lines(self) -> str:
        return "\n".join(json.dumps(hit.as_dict(), ensure_ascii=False, sort_keys=True)
                         for hit in self.hits)


def _parse_problem(error: Any) -> str | None:
    """The innermost parser message of a query Elasticsearch could not parse, or None."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if str(node.get("type", "")).endswith("parse_exception") and node.get("reason"):
                found.append(str(node["reason"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(error)
    if not found:
        return None
    deepest = min(found, key=len)  # each level repeats the one below, with more in front
    return one_line(deepest.split("Was expecting", 1)[0]).rstrip(" .:") or None


def search_documents(client: Elasticsearch, alias: str, request: SearchRequest) -> SearchResult:
    """Runs the search; a query Elasticsearch refuses (400) is a `ConfigError` naming it."""
    validate_index_name(alias)
    if request.actors or request.claim_types:
        from connectors.alerting.rules import default_vocabulary

        vocabulary = default_vocabulary()
        check_vocabulary(request, vocabulary.actors, vocabulary.claim_types)
    body = search_body(request)
    with translating_errors(f"searching '{alias}'", client_url(client)):
        try:
            response = client.search(index=alias, **body)
        except NotFoundError as exc:
            if _error_type(exc) != "index_not_found_exception":
                raise
            return SearchResult(alias=alias, request=request, total=0, index_missing=True)
        except ApiError as exc:
            if exc.meta.status != 400:
                raise
            problem = _parse_problem(exc.body)
            if problem:
                raise ConfigError(f"not valid Lucene query syntax: {problem}",
                                  where=f"query {request.query!r}") from exc
            raise ConfigError(f"Elasticsearch rejected the search: {describe_api_error(exc)}",
                              where=f"query {request.query!r}") from exc
    hits = tuple(SearchHit(id=hit["_id"], source=hit.get("_source") or {})
                 for hit in response["hits"]["hits"])
    return SearchResult(alias=alias, request=request, total=int(response["hits"]["total"]["value"]),
                        hits=hits)


def _error_type(exc: ApiError) -> str | None:
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    return error.get("type") if isinstance(error, dict) else None
