"""Which story heads each rule matches, asked of Elasticsearch in one `_msearch`.

Matching runs in Elasticsearch itself, so a rule's query means exactly
what it means when typed into Kibana (Lucene `query_string` syntax, with
`analyze_wildcard` as Kibana sends it). Each rule becomes one search:

- its `query` (`query_string`), and its filters: `actors` (any of them,
  on `actor_ids`), `min_relevance` (on `relevance.score`), `claim_types`
  (any, on `claim_types`) and `polarity` (on `claim_polarities`); given
  together, `claim_types` and `polarity` must hold in the same claim (a
  nested query on `claims`), so "asserted mercenaries" does not fire on a
  denied mercenaries claim next to an asserted weapons claim;
- only story heads (`NOT _exists_:duplicate_of`): a story fires once,
  however many outlets copy it;
- only documents of the given runs (`run_id`), the runs whose alerts are
  not done yet.

All rules go in one `_msearch`, `PAGE_SIZE` hits each; a rule with more
hits is paged on (`search_after`) in further `_msearch` calls holding only
the rules that still have pages. A rule matching more than
`MAX_MATCHES_PER_RULE` story heads in those runs is a rule that does not
select anything: that is a `ConfigError` naming the rule, and the runs
stay owed, so no alert is lost once the rule is narrowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from elasticsearch import Elasticsearch

from connectors.alerting.model import Alert, utc_now
from connectors.alerting.rules import Rule
from connectors.errors import ConfigError, ElasticsearchError, ElasticsearchUnavailable, IndexingError
from connectors.errors import one_line
from connectors.es_client import RETRY_ON_STATUS, client_url, translating_errors

__all__ = ["MAX_MATCHES_PER_RULE", "PAGE_SIZE", "match_rules", "rule_query", "search_rules"]

PAGE_SIZE = 500
MAX_MATCHES_PER_RULE = 10_000
SOURCE_FIELDS = ["id", "story_id", "title", "url", "published", "outlet", "run_id"]
# Chronological, then by document id: a total order, so search_after pages never skip.
SORT = [{"published": {"order": "asc", "unmapped_type": "date"}},
        {"id": {"order": "asc", "unmapped_type": "keyword"}}]
STORY_FIELDS = ("story_id", "duplicate_of")


def rule_query(rule: Rule, run_ids: Sequence[str] | None) -> dict[str, Any]:
    """The rule as a query on story heads (of these runs; of all documents when None)."""
    filters: list[dict[str, Any]] = [
        {"query_string": {"query": rule.query, "analyze_wildcard": True}}]
    if rule.actors:
        filters.append({"terms": {"actor_ids": list(rule.actors)}})
    if rule.claim_types and rule.polarity:
        filters.append({"nested": {"path": "claims", "query": {"bool": {"filter": [
            {"terms": {"claims.type": list(rule.claim_types)}},
            {"term": {"claims.polarity": rule.polarity}}]}}}})
    elif rule.claim_types:
        filters.append({"terms": {"claim_types": list(rule.claim_types)}})
    elif rule.polarity:
        filters.append({"term": {"claim_polarities": rule.polarity}})
    if rule.min_relevance is not None:
        filters.append({"range": {"relevance.score": {"gte": rule.min_relevance}}})
    if run_ids is not None:
        filters.append({"terms": {"run_id": list(run_ids)}})
    return {"bool": {"filter": filters,
                     "must_not": [{"exists": {"field": "duplicate_of"}}]}}


def _describe(item: Mapping[str, Any]) -> str:
    error = item.get("error")
    status = item.get("status")
    if isinstance(error, dict):
        root = (error.get("root_cause") or [error])[0]
        caused = error.get("caused_by") or {}
        reason = root.get("reason") or caused.get("reason") or ""
        # A query_string parse failure says where in the query the problem is one level down.
        deeper = (caused.get("caused_by") or {}).get("reason") if isinstance(caused, dict) else None
        text = f"{status} {root.get('type', 'error')}: {reason}"
        if deeper and deeper not in text:
            text += f" ({deeper})"
    else:
        text = f"{status} {error}"
    return one_line(text)[:500]


def _rule_error(rule: Rule, problem: str) -> ConfigError:
    """`<file>: rules[i] (<id>): <problem>`, pointing back at the rule in its file."""
    return ConfigError(problem, source=rule.source,
                       where=f"{rule.where} ({rule.id})" if rule.where else f"rule {rule.id!r}")


def search_rules(client: Elasticsearch, index: str, rules: Sequence[Rule],
                 run_ids: Sequence[str] | None) -> dict[str, list[dict[str, Any]]]:
    """Every hit of every rule (rule id -> hits), paging only the rules that need it."""
    by_id = {rule.id: rule for rule in rules}
    hits: dict[str, list[dict[str, Any]]] = {rule.id: [] for rule in rules}
    after: dict[str, list[Any] | None] = {rule.id: None for rule in rules}
    while after:
        order = list(after)
        searches: list[dict[str, Any]] = []
        for rule_id in order:
            body: dict[str, Any] = {"query": rule_query(by_id[rule_id], run_ids),
                                    "size": PAGE_SIZE, "sort": SORT, "_source": SOURCE_FIELDS,
                                    "track_total_hits": False}
            if after[rule_id] is not None:
                body["search_after"] = after[rule_id]
            searches += [{"index": index, "ignore_unavailable": True, "allow_no_indices": True},
                         body]
        with translating_errors(f"matching alert rules in '{index}'", client_url(client)):
            responses = client.msearch(searches=searches)["responses"]
        following: dict[str, list[Any] | None] = {}
        for rule_id, item in zip(order, responses):
            rule = by_id[rule_id]
            if "error" in item:
                status = item.get("status") or 0
                if status in RETRY_ON_STATUS:
                    raise ElasticsearchUnavailable(
                        f"matching {rule.place}: Elasticsearch answered {_describe(item)}")
                if 400 <= status < 500:
                    raise _rule_error(rule, f"Elasticsearch rejected the rule: {_describe(item)}")
                raise ElasticsearchError(
                    f"matching {rule.place}: Elasticsearch answered {_describe(item)}")
            page = item["hits"]["hits"]
            hits[rule_id].extend(page)
            if len(hits[rule_id]) > MAX_MATCHES_PER_RULE:
                raise _rule_error(rule, f"matches more than {MAX_MATCHES_PER_RULE} stories in "
                                        f"one pass; narrow its query or filters")
            if len(page) == PAGE_SIZE:
                following[rule_id] = page[-1]["sort"]
        after = following
    return hits


def _require_story_fields(client: Elasticsearch, alias: str) -> None:
    """Refuses an index that cannot tell copies from heads (copies would fire as stories)."""
    with translating_errors(f"reading the fields of '{alias}'", client_url(client)):
        caps = client.field_caps(index=alias, fields=list(STORY_FIELDS),
                                 ignore_unavailable=True, allow_no_indices=True)
    if not caps.get("indices"):
        return  # nothing indexed yet: nothing to match
    missing = [name for name in STORY_FIELDS if name not in caps.get("fields", {})]
    if missing:
        raise IndexingError(
            f"'{alias}' has no mapping for {', '.join(missing)}: copies of a story could not "
            f"be told from its first document; update the index layout before alerting")


def match_rules(client: Elasticsearch, alias: str, rules: Sequence[Rule],
                run_ids: Sequence[str]) -> list[Alert]:
    """One alert per (rule, story head) matched among the documents of `run_ids`.

    `story_id` is the document's `story_id`, or its `_id` for a document
    indexed without one. Alerts come rule by rule, oldest story first.
    """
    if not rules or not run_ids:
        return []
    _require_story_fields(client, alias)
    hits = search_rules(client, alias, rules, run_ids)
    matched_at = utc_now()
    alerts: dict[str, Alert] = {}
    for rule in rules:
        for hit in hits[rule.id]:
            source = hit.get("_source") or {}
            alert = Alert(rule_id=rule.id, rule_name=rule.name,
                          story_id=source.get("story_id") or hit["_id"], doc_id=hit["_id"],
                          title=source.get("title") or "", url=source.get("url"),
                          published=source.get("published"), matched_at=matched_at,
                          outlet=source.get("outlet"), run_id=source.get("run_id"))
            alerts.setdefault(alert.id, alert)
    return list(alerts.values())
