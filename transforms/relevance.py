"""Relevance: how much an article is about Libya, and whether the pipeline keeps it.

Scoring follows the annotation guidelines: an article where Libya, a Libyan
place or a Libyan actor is a main subject must be kept, an article that never
mentions Libya must be dropped, and a passing mention must score below a main
subject. Main subjects show up in the title, the lead and across the text;
passing mentions are one sentence in many. The terms, the rules for ambiguous
terms and the scoring constants live in the topic pack (topic_pack.yaml).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import apache_beam as beam
import yaml
from apache_beam import pvalue

from transforms.matching import Match, Term, TermError, TermMatcher, fold, terms_from_forms
from transforms.metrics import counter, stage_timer
from transforms.model import Article, Relevance

__all__ = [
    "DROPPED",
    "TopicPackError",
    "Scoring",
    "SupportRule",
    "TopicPack",
    "load_topic_pack",
    "default_topic_pack",
    "score_relevance",
    "ScoreRelevance",
]

DROPPED = "dropped"
# Located from this file rather than by package name, which a test package can shadow.
_DEFAULT_PACK = Path(__file__).parent / "data" / "topic_pack.yaml"
_KINDS = frozenset({"place", "demonym", "actor", "keyword"})
_SCORING_KEYS = ("threshold", "title_factor", "lead_chars", "lead_bonus", "density_weight", "scale")
# Sentence ends for the density measure: the whitespace after ., !, ?, Arabic
# question mark, or a run of line breaks. A match starts at the mark or break
# itself (it ends where `(?<=[.!?\u061f])\s+|\n+` would): a pattern that opens
# with a character class lets the regex engine skip ahead to candidates.
_SENTENCE_END = re.compile(r"[\n.!?\u061f](?:(?<=\n)\n*|(?<!\n)\s+)")


class TopicPackError(ValueError):
    """A topic pack file that is missing a key or holds a value of the wrong type."""


@dataclass(frozen=True)
class Scoring:
    """Constants of the score (see the comment at the top of topic_pack.yaml)."""

    threshold: float
    title_factor: float
    lead_chars: int
    lead_bonus: float
    density_weight: float
    scale: float


@dataclass(frozen=True)
class SupportRule:
    """When an ambiguous form counts: see `needs_support` in topic_pack.yaml."""

    needs_support: bool = False
    unless_near: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class TopicPack:
    """A loaded topic pack: matchers for terms and contexts, and the rules to score them."""

    scoring: Scoring
    matcher: TermMatcher
    context_matcher: TermMatcher
    rules: Mapping[Term, SupportRule]
    kinds: Mapping[str, str]


def load_topic_pack(path: str | Path | None = None) -> TopicPack:
    """The topic pack at `path`, or the packaged Libya pack."""
    path = Path(path) if path is not None else _DEFAULT_PACK
    source = str(path) if path != _DEFAULT_PACK else path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopicPackError(f"{source}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopicPackError(" ".join(f"{source}: invalid YAML: {exc}".split())) from exc
    try:
        return _parse_pack(source, data)
    except TermError as exc:
        raise TopicPackError(f"{source}: {exc}") from exc


def _number(section: Mapping[str, Any], key: str, where: str) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise TopicPackError(f"{where}.{key} must be a non-negative number")
    return value


def _parse_pack(source: str, data: Any) -> TopicPack:
    if not isinstance(data, dict):
        raise TopicPackError(f"{source}: expected a mapping at the top level")
    scoring_section = data.get("scoring")
    if not isinstance(scoring_section, dict):
        raise TopicPackError(f"{source}: missing mapping 'scoring'")
    numbers = {key: _number(scoring_section, key, f"{source}: scoring") for key in _SCORING_KEYS}
    if numbers["scale"] == 0:
        raise TopicPackError(f"{source}: scoring.scale must be positive")
    numbers["lead_chars"] = int(numbers["lead_chars"])
    scoring = Scoring(**numbers)

    contexts = data.get("contexts") or {}
    if not isinstance(contexts, dict):
        raise TopicPackError(f"{source}: 'contexts' must be a mapping of name to forms")
    context_terms: list[Term] = []
    for name, forms in contexts.items():
        if not isinstance(forms, list):
            raise TopicPackError(f"{source}: contexts.{name} must be a list of forms")
        context_terms += terms_from_forms(str(name), forms, weight=0.0, where=f"contexts.{name}")

    entries = data.get("terms")
    if not isinstance(entries, list) or not entries:
        raise TopicPackError(f"{source}: 'terms' must be a non-empty list")
    terms: list[Term] = []
    rules: dict[Term, SupportRule] = {}
    kinds: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = f"terms[{index}]"
        if not isinstance(entry, dict):
            raise TopicPackError(f"{source}: {where} must be a mapping")
        unknown = set(entry) - {"id", "kind", "weight", "forms", "needs_support", "unless_near"}
        if unknown:
            raise TopicPackError(f"{source}: {where}: unknown field(s) {sorted(unknown)}")
        concept = entry.get("id")
        if not isinstance(concept, str) or not concept:
            raise TopicPackError(f"{source}: {where}: 'id' must be a non-empty string")
        where = f"{where} ({concept})"
        if concept in kinds:
            raise TopicPackError(f"{source}: {where}: duplicate id")
        kind = entry.get("kind")
        if kind not in _KINDS:
            raise TopicPackError(f"{source}: {where}: 'kind' must be one of {sorted(_KINDS)}")
        kinds[concept] = kind
        weight = _number(entry, "weight", f"{source}: {where}")
        unless_near = entry.get("unless_near", [])
        if not isinstance(unless_near, list) or not all(name in contexts for name in unless_near):
            raise TopicPackError(
                f"{source}: {where}: 'unless_near' must list names from 'contexts'"
            )
        needs_support = _flag(entry, "needs_support", False, f"{source}: {where}")
        forms = entry.get("forms")
        if not isinstance(forms, list) or not forms:
            raise TopicPackError(f"{source}: {where}: 'forms' must be a non-empty list")
        for form_index, form in enumerate(forms):
            form_where = f"{where}.forms[{form_index}]"
            form_support = needs_support
            if isinstance(form, dict) and "needs_support" in form:
                form = dict(form)
                form_support = _flag(form, "needs_support", False, f"{source}: {form_where}")
                del form["needs_support"]
            (term,) = terms_from_forms(concept, [form], weight=weight, where=where)
            terms.append(term)
            rules[term] = SupportRule(form_support, tuple(unless_near) if form_support else ())
    return TopicPack(
        scoring=scoring,
        matcher=TermMatcher.from_terms(terms),
        context_matcher=TermMatcher.from_terms(context_terms),
        rules=rules,
        kinds=kinds,
    )


def _flag(section: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise TopicPackError(f"{where}: '{key}' must be true or false")
    return value


def _rules_by_identity(pack: TopicPack) -> dict[int, SupportRule]:
    """`pack.rules` keyed by the terms' id(): hashing a Term hashes all its fields.

    One mapping per pack object in this process; the pack holds its terms
    alive, so no id in it is reused while the mapping exists.
    """
    rules = _RULES_BY_IDENTITY.get(pack)
    if rules is None:
        rules = _RULES_BY_IDENTITY[pack] = {id(term): rule for term, rule in pack.rules.items()}
    return rules


_RULES_BY_IDENTITY: WeakKeyDictionary[TopicPack, dict[int, SupportRule]] = WeakKeyDictionary()


def _counted(
    pack: TopicPack, found: list[tuple[bool, Match]], context_counts: dict[str, int]
) -> list[tuple[bool, Match]]:
    """The matches that count, after the support rules for ambiguous forms."""
    by_identity = _rules_by_identity(pack)
    # A matcher built apart from the pack may hold equal but distinct terms.
    rules = [by_identity.get(id(match.term)) or pack.rules[match.term] for _, match in found]
    anchors = sum(1 for rule in rules if not rule.needs_support)
    counted = []
    for (in_title, match), rule in zip(found, rules):
        if rule.needs_support:
            against = sum(context_counts.get(name, 0) for name in rule.unless_near)
            if against or not rule.unless_near:
                if anchors <= against:
                    continue
        counted.append((in_title, match))
    return counted


def _sentence_starts(text: str) -> list[int]:
    return [0] + [boundary.end() for boundary in _SENTENCE_END.finditer(text)]


@lru_cache(maxsize=1)
def default_topic_pack() -> TopicPack:
    """The packaged Libya pack, loaded once per process."""
    return load_topic_pack()


def score_relevance(article: Article, pack: TopicPack | None = None) -> Relevance:
    """The article's relevance under `pack` (default: the Libya pack).

    Returns the score in [0, 1), whether it reaches the pack's threshold, and
    the sorted ids of the concepts that counted.
    """
    pack = pack or default_topic_pack()
    found: list[tuple[bool, Match]] = []
    context_counts: dict[str, int] = {}
    for in_title, text in ((True, article.title), (False, article.text)):
        folded = fold(text)
        found += [(in_title, match) for match in pack.matcher.find(text, folded)]
        for match in pack.context_matcher.find(text, folded):
            context_counts[match.term_id] = context_counts.get(match.term_id, 0) + 1
    counted = _counted(pack, found, context_counts)
    if not counted:
        return Relevance(score=0.0, kept=False, matched=())

    scoring = pack.scoring
    weights: dict[str, float] = {}
    in_title: set[str] = set()
    body_mentions: dict[str, int] = {}
    lead_weight = 0.0
    sentence_starts = _sentence_starts(article.text)
    sentences_hit: set[int] = set()
    for title_match, match in counted:
        concept, weight = match.term_id, match.term.weight
        weights[concept] = max(weights.get(concept, 0.0), weight)
        if title_match or match.start < scoring.lead_chars:
            lead_weight = max(lead_weight, weight)
        if title_match:
            in_title.add(concept)
        else:
            body_mentions[concept] = body_mentions.get(concept, 0) + 1
            sentences_hit.add(bisect_right(sentence_starts, match.start))

    evidence = 0.0
    for concept, weight in weights.items():
        if concept in in_title:
            evidence += weight * scoring.title_factor
        mentions = body_mentions.get(concept, 0)
        if mentions:
            evidence += weight * (1.0 + math.log(mentions))  # diminishing returns
    evidence += scoring.lead_bonus * lead_weight
    if article.text:
        evidence += scoring.density_weight * len(sentences_hit) / len(sentence_starts)
    score = round(1.0 - math.exp(-evidence / scoring.scale), 4)
    return Relevance(score=score, kept=score >= scoring.threshold, matched=tuple(sorted(weights)))


class _ScoreFn(beam.DoFn):
    def __init__(self, pack_path: str | None, keep_all: bool) -> None:
        self._pack_path = pack_path
        self._keep_all = keep_all
        self._pack: TopicPack | None = None
        self._relevant = counter("relevant")
        self._irrelevant = counter("irrelevant")

    def setup(self) -> None:
        # Built on the worker: the automata are rebuilt from YAML, not pickled.
        self._pack = load_topic_pack(self._pack_path)

    def process(self, article: Article) -> Iterator[Any]:
        with stage_timer("relevance"):
            relevance = score_relevance(article, self._pack)
        scored = replace(article, relevance=relevance)
        if relevance.kept:
            self._relevant.inc()
            yield scored
        else:
            self._irrelevant.inc()
            yield scored if self._keep_all else pvalue.TaggedOutput(DROPPED, scored)


class ScoreRelevance(beam.PTransform):
    """Article -> Article with `relevance` set.

    By default the result has two outputs: `result.kept` (main) and
    `result.dropped`. With `keep_all=True` the result is one PCollection of
    every article, dropped ones carrying `relevance.kept == False`, as
    `enrich` needs. `pack_path` selects another topic pack than the Libya one.
    """

    def __init__(self, pack_path: str | None = None, keep_all: bool = False) -> None:
        super().__init__()
        self._pack_path = pack_path
        self._keep_all = keep_all

    def expand(self, articles: beam.PCollection) -> pvalue.DoOutputsTuple | beam.PCollection:
        scorer = beam.ParDo(_ScoreFn(self._pack_path, self._keep_all))
        if self._keep_all:
            return articles | "Score" >> scorer
        return articles | "Score" >> scorer.with_outputs(DROPPED, main="kept")
