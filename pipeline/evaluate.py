"""Scores enriched documents against gold annotations (the annotation guidelines' three tasks).

Relevance: the positive class is `core` (must be kept) against `none` (must
be dropped); `mention` articles are left out of precision and recall, and
only checked to score below every core article. Actors: micro-averaged over
the core ids. Claims: micro-averaged over `(country, type, polarity)`
triples, and separately over `(country, polarity)` pairs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connectors.errors import ConfigError

__all__ = ["Gold", "Score", "Evaluation", "load_gold", "load_documents", "evaluate",
           "load_evaluation_spec", "EvaluationSpec"]

SPEC_PATH = Path(__file__).with_name("data") / "evaluation.yaml"


@dataclass(frozen=True)
class EvaluationSpec:
    core_actor_ids: frozenset[str]
    relevance_labels: frozenset[str]
    claim_types: frozenset[str]
    polarities: frozenset[str]


def load_evaluation_spec(path: Path = SPEC_PATH) -> EvaluationSpec:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return EvaluationSpec(*(frozenset(data[key]) for key in
                            ("core_actor_ids", "relevance_labels", "claim_types", "polarities")))


@dataclass(frozen=True)
class Gold:
    """One annotated article."""

    id: str
    relevance: str
    actors: frozenset[str]
    claims: frozenset[tuple[str, str, str]]


@dataclass
class Score:
    """Micro counts; precision, recall and F1 follow from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set, gold: set) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class Evaluation:
    relevance: Score = field(default_factory=Score)
    actors: Score = field(default_factory=Score)
    triples: Score = field(default_factory=Score)
    pairs: Score = field(default_factory=Score)
    articles: int = 0
    missing: list[str] = field(default_factory=list)
    mention_above_core: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"articles": self.articles, "relevance": self.relevance.as_dict(),
                "actors": self.actors.as_dict(), "claim_triples": self.triples.as_dict(),
                "claim_pairs": self.pairs.as_dict(), "missing_documents": self.missing,
                "mentions_scoring_above_a_core_article": self.mention_above_core}

    def to_text(self) -> str:
        rows = [("relevance (core kept / none dropped)", self.relevance),
                ("actors (micro, core ids)", self.actors),
                ("claims (country, type, polarity)", self.triples),
                ("claims (country, polarity)", self.pairs)]
        lines = [f"{self.articles} gold articles",
                 f"{'task':<40} {'P':>6} {'R':>6} {'F1':>6}   tp / fp / fn"]
        for name, score in rows:
            lines.append(f"{name:<40} {score.precision:6.3f} {score.recall:6.3f} {score.f1:6.3f}"
                         f"   {score.tp} / {score.fp} / {score.fn}")
        if self.missing:
            lines.append(f"no document for {len(self.missing)} gold ids (dropped as duplicates?): "
                         + ", ".join(self.missing[:10]))
        if self.mention_above_core:
            lines.append("mention articles scoring above a core article: "
                         + ", ".join(self.mention_above_core))
        return "\n".join(lines)


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"invalid JSON: {exc.msg}", source=str(path),
                                  where=f"line {number}") from exc
            if not isinstance(record, dict):
                raise ConfigError("expected a JSON object", source=str(path), where=f"line {number}")
            yield number, record


def load_gold(path: Path, spec: EvaluationSpec | None = None) -> list[Gold]:
    """Gold lines `{"id", "relevance", "actors": [...], "claims": [[country, type, polarity], ...]}`."""
    spec = spec or load_evaluation_spec()
    gold: list[Gold] = []
    for number, record in _read_jsonl(path):
        where = f"line {number}"
        try:
            relevance = record["relevance"]
            actors = frozenset(record.get("actors", []))
            claims = frozenset(tuple(c) for c in record.get("claims", []))
            doc_id = str(record["id"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"missing or malformed field {exc}", source=str(path), where=where) from exc
        if relevance not in spec.relevance_labels:
            raise ConfigError(f"relevance must be one of {sorted(spec.relevance_labels)}, "
                              f"got {relevance!r}", source=str(path), where=where)
        for claim in claims:
            if len(claim) != 3 or claim[1] not in spec.claim_types or claim[2] not in spec.polarities:
                raise ConfigError(f"claim must be [country, type, polarity], got {list(claim)}",
                                  source=str(path), where=where)
        gold.append(Gold(doc_id, relevance, actors, claims))
    return gold


def load_documents(path: Path) -> dict[str, dict[str, Any]]:
    """Enriched documents by id."""
    return {str(record["id"]): record for _, record in _read_jsonl(path)}


def _predicted_claims(document: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["country"], c["type"], c["polarity"]) for c in document.get("claims", [])}


def evaluate(gold: Iterable[Gold], documents: Mapping[str, Mapping[str, Any]],
             spec: EvaluationSpec | None = None) -> Evaluation:
    """Compares each gold article with its document; a missing document predicts nothing."""
    spec = spec or load_evaluation_spec()
    result = Evaluation()
    core_scores: list[float] = []
    mention_scores: list[tuple[str, float]] = []
    for item in gold:
        result.articles += 1
        document = documents.get(item.id)
        if document is None:
            result.missing.append(item.id)
            document = {}
        relevance = document.get("relevance") or {}
        kept = bool(relevance.get("kept"))
        if item.relevance == "core":
            result.relevance.add({item.id} if kept else set(), {item.id})
            core_scores.append(float(relevance.get("score", 0.0)))
        elif item.relevance == "none":
            result.relevance.add({item.id} if kept else set(), set())
        else:
            mention_scores.append((item.id, float(relevance.get("score", 0.0))))
        predicted_actors = set(document.get("actor_ids", [])) & spec.core_actor_ids
        gold_actors = set(item.actors) & spec.core_actor_ids
        result.actors.add(predicted_actors, gold_actors)
        triples = _predicted_claims(document)
        result.triples.add(triples, set(item.claims))
        result.pairs.add({(c, p) for c, _, p in triples}, {(c, p) for c, _, p in item.claims})
        if predicted_actors != gold_actors or triples != set(item.claims):
            result.errors.append({
                "id": item.id,
                "actors_extra": sorted(predicted_actors - gold_actors),
                "actors_missed": sorted(gold_actors - predicted_actors),
                "claims_extra": sorted(triples - set(item.claims)),
                "claims_missed": sorted(set(item.claims) - triples)})
    if core_scores:
        lowest_core = min(core_scores)
        result.mention_above_core = [i for i, s in mention_scores if s >= lowest_core]
    return result
