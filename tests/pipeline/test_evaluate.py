"""Scoring against gold annotations: the arithmetic, the rules of each task, and bad gold files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.errors import ConfigError
from pipeline.cli import main
from pipeline.evaluate import Gold, Score, evaluate, load_gold


def _doc(kept: bool, score: float, actors=(), claims=()) -> dict:
    return {"relevance": {"kept": kept, "score": score}, "actor_ids": list(actors),
            "claims": [{"country": c, "type": t, "polarity": p} for c, t, p in claims]}


def test_score_precision_recall_f1() -> None:
    score = Score()
    score.add({"a", "b", "c"}, {"b", "c", "d", "e"})
    assert (score.tp, score.fp, score.fn) == (2, 1, 2)
    assert score.precision == pytest.approx(2 / 3)
    assert score.recall == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_relevance_counts_core_and_none_but_not_mentions() -> None:
    gold = [Gold("c1", "core", frozenset(), frozenset()),
            Gold("c2", "core", frozenset(), frozenset()),
            Gold("n1", "none", frozenset(), frozenset()),
            Gold("m1", "mention", frozenset(), frozenset())]
    documents = {"c1": _doc(True, 0.9), "c2": _doc(False, 0.2), "n1": _doc(True, 0.5),
                 "m1": _doc(True, 0.95)}
    result = evaluate(gold, documents)
    assert (result.relevance.tp, result.relevance.fp, result.relevance.fn) == (1, 1, 1)
    assert result.mention_above_core == ["m1"]


def test_actors_are_scored_on_core_ids_only() -> None:
    gold = [Gold("a", "core", frozenset({"russia", "wagner_group"}), frozenset())]
    documents = {"a": _doc(True, 0.9, actors=["russia", "oleg_krinitsyn", "turkey"])}
    result = evaluate(gold, documents)
    assert (result.actors.tp, result.actors.fp, result.actors.fn) == (1, 1, 1)


def test_claims_are_scored_as_triples_and_as_pairs() -> None:
    gold = [Gold("a", "core", frozenset(), frozenset({("russia", "mercenaries", "asserted"),
                                                       ("russia", "troops", "denied")}))]
    documents = {"a": _doc(True, 0.9, claims=[("russia", "troops", "asserted"),
                                              ("russia", "troops", "denied")])}
    result = evaluate(gold, documents)
    assert (result.triples.tp, result.triples.fp, result.triples.fn) == (1, 1, 1)
    assert (result.pairs.tp, result.pairs.fp, result.pairs.fn) == (2, 0, 0)


def test_a_missing_document_predicts_nothing() -> None:
    gold = [Gold("gone", "core", frozenset({"russia"}), frozenset({("russia", "troops", "denied")}))]
    result = evaluate(gold, {})
    assert result.missing == ["gone"]
    assert result.relevance.fn == 1 and result.actors.fn == 1 and result.triples.fn == 1


def test_bad_gold_line_is_a_config_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "a", "relevance": "core"}) + "\n"
                    + json.dumps({"id": "b", "relevance": "maybe"}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="gold.jsonl: line 2: relevance must be one of"):
        load_gold(path)


def test_eval_command_prints_the_four_scores(tmp_path: Path, capsys) -> None:
    articles = tmp_path / "articles.jsonl"
    gold = tmp_path / "gold.jsonl"
    articles.write_text("\n".join(json.dumps(a) for a in [
        {"id": "1", "title": "Turkey sends drones to Libya's GNA",
         "text": "Turkey is supplying the Government of National Accord in Tripoli, Libya, "
                 "with drones, officials in Ankara said."},
        {"id": "2", "title": "Opera season opens", "text": "Richard Wagner's Parsifal opened."},
    ]) + "\n", encoding="utf-8")
    gold.write_text("\n".join(json.dumps(g) for g in [
        {"id": "1", "relevance": "core", "actors": ["gna", "turkey"],
         "claims": [["turkey", "weapons", "asserted"]]},
        {"id": "2", "relevance": "none", "actors": [], "claims": []},
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "scores.json"
    assert main(["eval", "--gold", str(gold), "--articles", str(articles), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "relevance (core kept / none dropped)" in printed
    scores = json.loads(out.read_text())
    assert scores["articles"] == 2
    assert scores["relevance"] == {**scores["relevance"], "tp": 1, "fp": 0, "fn": 0}
    assert set(scores) >= {"actors", "claim_triples", "claim_pairs"}
