"""score_relevance against the guidelines, the topic pack rules, and ScoreRelevance."""

from dataclasses import replace
from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.model import Article
from transforms.relevance import (
    ScoreRelevance,
    TopicPackError,
    default_topic_pack,
    load_topic_pack,
    score_relevance,
)

CASES_FILE = Path(__file__).parents[1] / "data" / "relevance_cases.yaml"
CASES = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
LABELS = {"core", "mention", "none"}


def article(title: str, text: str = "", article_id: str = "a") -> Article:
    return Article(
        id=article_id, url=None, title=title, text=text, published="2020-06-07T00:00:00Z",
        published_source="input", language=None, language_source="unknown", outlet=None,
        content_hash="",
    )


def case_article(case: dict) -> Article:
    return article(case["title"], case["text"] or "", case["id"])


def test_labelled_set_is_well_formed():
    assert all(case["label"] in LABELS for case in CASES)
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert {case["label"] for case in CASES} == LABELS


MIN_CORE_SCORE = min(score_relevance(case_article(c)).score for c in CASES if c["label"] == "core")


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_labelled_case_follows_the_guidelines(case):
    relevance = score_relevance(case_article(case))
    if case["label"] == "core":
        assert relevance.kept, relevance
    elif case["label"] == "none":
        assert not relevance.kept, relevance
    else:
        assert relevance.score < MIN_CORE_SCORE, relevance


def test_score_range_and_matched_ids():
    relevance = score_relevance(article("Haftar in Benghazi", "Libya. Libya. Libya. Tobruk and Benghazi."))
    assert 0.0 < relevance.score < 1.0
    assert relevance.matched == ("benghazi", "khalifa_haftar", "libya", "tobruk")


def test_no_terms_scores_zero():
    assert score_relevance(article("Markets", "Stocks rose.")) == score_relevance(article("", ""))
    assert score_relevance(article("Markets", "Stocks rose.")).score == 0.0


FILLER = " ".join(f"Sentence number {n} says nothing in particular." for n in range(12))


def test_title_mention_weighs_more_than_body_mention():
    in_title = score_relevance(article("Talks on Libya", FILLER))
    in_body = score_relevance(article("Talks", FILLER + " Talks on Libya."))
    assert in_title.score > in_body.score


def test_repeated_mentions_count_with_diminishing_returns():
    scores = [
        score_relevance(article("Talks", FILLER + " Libya said so." * n)).score for n in (1, 2, 4, 8)
    ]
    gains = [later - earlier for earlier, later in zip(scores, scores[1:])]
    assert scores == sorted(scores) and len(set(scores)) == 4
    assert gains[0] > gains[1] > gains[2] > 0


def test_one_passing_mention_in_a_long_text_is_dropped():
    relevance = score_relevance(article("Markets", FILLER + " Oil also came from Libya."))
    assert relevance.matched == ("libya",)
    assert not relevance.kept


def test_tripoli_alone_counts_without_other_context():
    assert score_relevance(article("Clashes in Tripoli")).matched == ("tripoli",)


def test_tripoli_near_lebanon_context_does_not_count():
    relevance = score_relevance(article("Clashes in Tripoli", "The Lebanese army deployed."))
    assert relevance.matched == ()
    assert not relevance.kept


def test_tripoli_counts_when_libya_terms_outnumber_the_context():
    text = "Haftar's forces shelled Tripoli. The Libyan capital was hit; a Lebanese national was hurt."
    assert "tripoli" in score_relevance(article("Clashes in Tripoli", text)).matched


def test_ambiguous_acronym_needs_an_anchor():
    assert score_relevance(article("GNA statement", "The GNA said so.")).matched == ()
    supported = score_relevance(article("GNA statement", "The GNA in Libya said so."))
    assert supported.matched == ("gna", "libya")


def test_form_level_needs_support_in_arabic():
    # سرت is also a verb ("spread"): alone it is not Sirte.
    assert score_relevance(article("سرت شائعات")).matched == ()
    supported = score_relevance(article("معارك في سرت", "قالت مصادر في ليبيا"))
    assert supported.matched == ("libya", "sirte")


def test_article_in_the_style_of_the_seeds_is_kept():
    text = (
        "Reports have emerged highlighting several dozen armed private security contractors from "
        "Russia having operated in a part of Libya under the control of regional army leader "
        "Khalifa Haftar. The task of the contractors was to remove mines near the eastern Libyan "
        "city of Benghazi, an area Haftar's forces liberated from Daesh last year."
    )
    relevance = score_relevance(article("", text))
    assert relevance.kept
    assert {"libya", "libyan", "khalifa_haftar", "benghazi"} <= set(relevance.matched)


# ------------------------------------------------------------------ topic pack

def test_packaged_pack_loads_and_flags_ambiguous_terms():
    pack = default_topic_pack()
    tripoli = [term for term in pack.rules if term.id == "tripoli"]
    assert tripoli and all(pack.rules[term].needs_support for term in tripoli)
    assert all("lebanon" in pack.rules[term].unless_near for term in tripoli)
    assert pack.kinds["khalifa_haftar"] == "actor"


def test_custom_pack(tmp_path):
    path = tmp_path / "pack.yaml"
    path.write_text(
        "scoring: {threshold: 0.5, title_factor: 2, lead_chars: 100, lead_bonus: 0.5,"
        " density_weight: 1, scale: 2}\n"
        "terms:\n  - {id: sahel, kind: place, weight: 1.0, forms: [Sahel]}\n",
        encoding="utf-8",
    )
    pack = load_topic_pack(path)
    assert score_relevance(article("Drought in the Sahel"), pack).kept
    assert score_relevance(article("Talks on Libya"), pack).matched == ()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("terms: []\n", "missing mapping 'scoring'"),
        ("scoring: {threshold: 0.5}\nterms: []\n", "scoring.title_factor"),
        ("terms:\n  - {id: x, kind: place, weight: 1, forms: [X]}\n", "scoring"),
        ("[1, 2]\n", "top level"),
        ("{unclosed\n", "invalid YAML"),
    ],
)
def test_malformed_pack_top_level(tmp_path, content, fragment):
    path = tmp_path / "pack.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TopicPackError, match=fragment):
        load_topic_pack(path)


SCORING = (
    "scoring: {threshold: 0.5, title_factor: 2, lead_chars: 100, lead_bonus: 0.5,"
    " density_weight: 1, scale: 2}\ncontexts: {lebanon: [Lebanon]}\n"
)


@pytest.mark.parametrize(
    ("terms", "fragment"),
    [
        ("terms:\n  - {kind: place, weight: 1, forms: [X]}\n", r"terms\[0\]: 'id'"),
        ("terms:\n  - {id: x, kind: planet, weight: 1, forms: [X]}\n", "'kind' must be one of"),
        ("terms:\n  - {id: x, kind: place, weight: heavy, forms: [X]}\n", "weight must be"),
        ("terms:\n  - {id: x, kind: place, weight: 1, forms: []}\n", "'forms' must be a non-empty list"),
        ("terms:\n  - {id: x, kind: place, weight: 1, forms: [{prefix: true}]}\n",
         r"terms\[0\] \(x\)\.forms\[0\]: 'surface'"),
        ("terms:\n  - {id: x, kind: place, weight: 1, unless_near: [syria], forms: [X]}\n",
         "'unless_near' must list names from 'contexts'"),
        ("terms:\n  - {id: x, kind: place, weight: 1, needs_support: maybe, forms: [X]}\n",
         "'needs_support' must be true or false"),
        ("terms:\n  - {id: x, kind: place, weight: 1, colour: red, forms: [X]}\n", "unknown field"),
        ("terms:\n  - {id: x, kind: place, weight: 1, forms: [X]}\n"
         "  - {id: x, kind: place, weight: 1, forms: [Y]}\n", "duplicate id"),
    ],
)
def test_malformed_pack_terms(tmp_path, terms, fragment):
    path = tmp_path / "pack.yaml"
    path.write_text(SCORING + terms, encoding="utf-8")
    with pytest.raises(TopicPackError, match=fragment) as caught:
        load_topic_pack(path)
    assert str(path) in str(caught.value)


def test_missing_pack_file(tmp_path):
    with pytest.raises(TopicPackError, match="cannot read"):
        load_topic_pack(tmp_path / "absent.yaml")


# ------------------------------------------------------------------ ScoreRelevance

CORE = article("Haftar's forces advance on Tripoli", "Libyan officials said fighting continued.", "core")
NONE = article("How to roast a turkey", "Brine the bird overnight.", "none")


def _counter(result, name):
    query = MetricsFilter().with_namespace("libya_watch").with_name(name)
    return sum(counter.committed for counter in result.metrics().query(query)["counters"])


def _scored(item: Article) -> Article:
    return replace(item, relevance=score_relevance(item))


def test_score_relevance_transform_splits_kept_and_dropped():
    pipeline = test_pipeline.TestPipeline()
    results = pipeline | beam.Create([CORE, NONE]) | ScoreRelevance()
    assert_that(results.kept, equal_to([_scored(CORE)]), label="kept")
    assert_that(results.dropped, equal_to([_scored(NONE)]), label="dropped")
    assert_that(results.kept | beam.Map(lambda item: item.relevance.kept), equal_to([True]), label="flag")
    result = pipeline.run()
    result.wait_until_finish()
    assert _counter(result, "relevant") == 1
    assert _counter(result, "irrelevant") == 1


def test_score_relevance_keep_all_sets_relevance_on_every_article():
    pipeline = test_pipeline.TestPipeline()
    scored = pipeline | beam.Create([CORE, NONE]) | ScoreRelevance(keep_all=True)
    assert_that(scored, equal_to([_scored(CORE), _scored(NONE)]))
    result = pipeline.run()
    result.wait_until_finish()
    assert _scored(NONE).relevance.kept is False
    assert _counter(result, "relevant") == 1
    assert _counter(result, "irrelevant") == 1


def test_sentence_starts_follow_marks_and_line_breaks():
    from transforms.relevance import _sentence_starts

    text = "One. Two!  Three?\tFour\u061f Five\n\nSix. \n Seven..x Eight\n \nNine.\n"
    assert _sentence_starts(text) == [0, 5, 11, 18, 24, 30, 37, 52, 54, 60]
