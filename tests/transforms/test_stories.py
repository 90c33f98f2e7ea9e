"""Near-duplicate stories: normalization, signatures, band keys, decisions, AssignStories and the index."""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
import re
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from datasketch import MinHash
from elasticsearch import Elasticsearch

from connectors.es_client import EsSettings, make_client
from connectors.es_documents import bulk_create
from connectors.es_index import ensure_index
from connectors.es_stories import (StoryCandidate, StoryUpdateError, add_outlet_to_story,
                                   find_story_candidates)
from pipeline.summary import read_counters
from transforms.index import WriteToElasticsearch
from transforms.model import Article
from transforms.normalize import content_hash
from transforms.matching import fold
from transforms.stories import (AssignStories, StoryEntry, StorySettings, StorySettingsError,
                                _canonical_variants, assign_stories, band_keys,
                                load_story_settings, signature, similarity, story_entry,
                                story_words)

ROOT = Path(__file__).parents[2]
CASES = yaml.safe_load((ROOT / "tests" / "data" / "near_duplicates.yaml").read_text(encoding="utf-8"))
SETTINGS = load_story_settings()
DAY = "2020-05-19T{}:00Z"


def article(article_id: str, title: str, text: str, *, outlet: str | None = "wire.example",
            published: str = DAY.format("10:00")) -> Article:
    return Article(id=article_id, url=f"http://{outlet or 'input'}/{article_id}", title=title,
                   text=text, published=published, published_source="input", language="en",
                   language_source="input", outlet=outlet, content_hash=content_hash(text, title),
                   feed_url=f"http://{outlet or 'input'}/rss")


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.strip().split("\n\n")]


def original(name: str, **kwargs: Any) -> Article:
    doc = CASES["articles"][name]
    return article(name, doc["title"], "\n\n".join(paragraphs(doc["text"])), **kwargs)


def syndicated(case: dict[str, Any], **kwargs: Any) -> Article:
    """The copy a case describes; an edit that changes nothing is an error in the case."""
    doc = CASES["articles"][case["of"]]
    if "text" in case:
        text = "\n\n".join(paragraphs(case["text"]))
    else:
        source = paragraphs(doc["text"])
        picked = case.get("paragraphs", range(len(source)))
        text = "\n\n".join(source[p] if isinstance(p, int) else " ".join(p.split()) for p in picked)
    for old, new in case.get("replace", []):
        assert old in text, f"{case['name']}: {old!r} is not in the text"
        text = text.replace(old, new)
    title = case.get("title", doc["title"])
    assert (title, text) != (doc["title"], "\n\n".join(paragraphs(doc["text"]))), case["name"]
    return article(f"copy-of-{case['of']}", title, text, **kwargs)


# --- the cases: copies join, different reports stay apart -----------------------------------


def test_the_cases_cover_the_edits_and_same_event_reports() -> None:
    assert len(CASES["copies"]) >= 8 and len(CASES["distinct"]) >= 6
    names = " ".join(case["name"] for case in CASES["copies"]).lower()
    for edit in ("dateline", "u.n.", "qaddafi", "paragraph added", "paragraph cut", "headline",
                 "quote trimmed", "rewrite"):
        assert edit in names


@pytest.mark.parametrize("case", CASES["copies"], ids=[c["name"] for c in CASES["copies"]])
def test_a_syndicated_copy_joins_the_original_story(case: dict[str, Any]) -> None:
    first = original(case["of"], published=DAY.format("10:00"))
    copy = syndicated(case, outlet="republisher.example", published=DAY.format("12:00"))
    sig_first, sig_copy = signature(first), signature(copy)
    assert similarity(sig_first, sig_copy) >= SETTINGS.threshold
    assert set(band_keys(sig_first)) & set(band_keys(sig_copy)), "LSH would never compare them"
    decisions = assign_stories([story_entry(copy), story_entry(first)]).decisions
    assert [(d.key[0], d.story_id, d.duplicate_of) for d in decisions] == [
        (first.id, first.id, None), (copy.id, first.id, first.id)]


@pytest.mark.parametrize("case", CASES["distinct"], ids=[c["name"] for c in CASES["distinct"]])
def test_different_reports_of_one_event_stay_apart(case: dict[str, Any]) -> None:
    a = original(case["a"], published=DAY.format("10:00"))
    b = original(case["b"], outlet="other-agency.example", published=DAY.format("11:00"))
    assert similarity(signature(a), signature(b)) < SETTINGS.threshold
    decisions = assign_stories([story_entry(a), story_entry(b)]).decisions
    assert [(d.story_id, d.duplicate_of) for d in decisions] == [(a.id, None), (b.id, None)]


# --- normalization -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "TRIPOLI (Reuters) - Drones struck the base.",
    "TRIPOLI, Libya, May 19 (AP) — Drones struck the base.",
    "MOSCOW/BENGHAZI (Reuters) - Drones struck the base.",
    "Tripoli, 19 May 2020 (Libya Daily) – Drones struck the base.",
    "UNITED NATIONS (Reuters) -  Drones struck the base.",
    "Drones struck the base.",
])
def test_datelines_are_not_part_of_the_text(body: str) -> None:
    assert story_words("", body) == ["drones", "struck", "base"]


def test_credit_lines_and_source_notes_are_dropped() -> None:
    body = ("Drones struck the base.\n(Reporting by Salem Bashir; Editing by Peter Lowe)\n"
            "Source: Libya Daily")
    assert story_words("", body) == ["drones", "struck", "base"]


def test_spelling_variants_become_one_word() -> None:
    assert story_words("U.N. envoy", "Moammar Kadhafi, Qaddafi; the United Nations; U.S.") == \
        story_words("UN envoy", "Muammar Gaddafi, Gaddafi; the UN; US") == \
        ["un", "envoy", "muammar", "gaddafi", "gaddafi", "un", "us"]
    assert story_words("", "recognised defence centre") == story_words("", "recognized defense center")


def test_a_dash_inside_the_first_sentence_is_not_a_dateline() -> None:
    assert story_words("", "Forces loyal to the GNA - backed by Turkey - advanced.") == [
        "forces", "loyal", "gna", "backed", "turkey", "advanced"]


def test_case_accents_and_stop_words_do_not_count() -> None:
    assert story_words("The ÉLYSÉE said", "it was in Libya") == ["elysee", "libya"]


# --- signatures and band keys --------------------------------------------------------------

PINNED = article(
    "pin", "Drones hit air defences at al-Watiya base",
    "Drones struck al-Watiya air base southwest of Tripoli on Tuesday and destroyed two air "
    "defence systems supplied to eastern commander Khalifa Haftar, a spokesman for forces "
    "allied to the internationally recognised government said.")

_SIGN_IN_SUBPROCESS = """
import json, sys
from transforms.model import Article
from transforms.stories import signature
fields = json.loads(sys.stdin.read())
print(json.dumps(signature(Article(**fields))))
"""


def test_signatures_are_stored_values_that_must_not_change() -> None:
    """Documents keep their signature and band keys: a change of library or settings breaks them."""
    sig = signature(PINNED)
    assert len(sig) == SETTINGS.num_perm == 128
    assert sig[:4] == (33688390, 107805706, 334932464, 260585372)
    assert band_keys(sig)[:2] == ["0:02020b46066cfc0a13f6a9f00f88379c",
                                  "1:1ad51fcd15d6c43208fc737c01590fd5"]


def test_signatures_are_the_same_in_every_process() -> None:
    fields = {name: getattr(PINNED, name) for name in
              ("id", "url", "title", "text", "published", "published_source", "language",
               "language_source", "outlet", "content_hash")}
    processes = [subprocess.Popen([sys.executable, "-c", _SIGN_IN_SUBPROCESS], cwd=ROOT,
                                  env={**os.environ, "PYTHONHASHSEED": seed},
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for seed in ("1", "2")]
    outputs = [process.communicate(json.dumps(fields), timeout=120)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert [tuple(json.loads(out)) for out in outputs] == [signature(PINNED)] * 2


def test_a_signature_depends_on_the_words_not_on_layout_or_case() -> None:
    relaid = replace(PINNED, title=PINNED.title.upper(),
                     text="TRIPOLI (Reuters) - " + PINNED.text.replace(", a", ",\n\na"))
    assert signature(relaid) == signature(PINNED)
    assert signature(replace(PINNED, text=PINNED.text.replace("two", "three"))) != signature(PINNED)


def test_too_short_a_text_has_no_signature_and_never_matches() -> None:
    short = article("short", "Libya", "Clashes in Tripoli, residents say.")
    assert signature(short) == ()
    assert band_keys(()) == []
    assert similarity((), ()) == 0.0 and similarity(signature(PINNED), ()) == 0.0
    decisions = assign_stories([story_entry(short), story_entry(replace(short, id="short-2"))])
    assert [d.duplicate_of for d in decisions.decisions] == [None, None]


NOT_ENGLISH = [
    article("ru", "Российские военные в Ливии",
            "Российские военные специалисты прибыли на авиабазу Аль-Джуфра в центральной Ливии, "
            "сообщили два источника в ливийской армии. Самолёты доставили оборудование, "
            "бронетехнику и зенитные комплексы для сил Халифы Хафтара."),
    article("ar", "مرتزقة في ليبيا",
            "وصلت طائرات شحن روسية إلى قاعدة الجفرة الجوية وسط ليبيا خلال الأيام الماضية، "
            "بحسب مصادر عسكرية ليبية قالت إن الطائرات نقلت معدات ومدرعات ومنظومات دفاع جوي "
            "لقوات خليفة حفتر شرق البلاد."),
    article("fr", "Des mercenaires à Syrte",
            "Des mercenaires étrangers ont été déployés près de Syrte, selon l'Élysée et plusieurs "
            "diplomates européens, qui évoquent une présence accrue de combattants syriens "
            "recrutés par la Turquie et de paramilitaires russes."),
]


@pytest.mark.parametrize("doc", [PINNED, *NOT_ENGLISH, *(original(n) for n in CASES["articles"])],
                         ids=lambda a: a.id)
def test_signatures_are_what_datasketch_computes(doc: Article) -> None:
    """Value for value datasketch's MinHash (SHA-1) over the shingles of story_words."""
    words = story_words(doc.title, doc.text)
    k = SETTINGS.shingle_words
    shingles = {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}
    reference = MinHash(num_perm=SETTINGS.num_perm, seed=SETTINGS.seed)
    reference.update_batch([shingle.encode("utf-8") for shingle in shingles])
    assert len(words) >= SETTINGS.min_words
    assert signature(doc) == tuple(reference.hashvalues.tolist())


def _variants_by_pattern(folded: str, settings: StorySettings = SETTINGS) -> str:
    """The variants replaced by one regular expression of every variant, longest first."""
    variants = sorted((v for v, _ in settings.equivalences), key=lambda v: (-len(v), v))
    pattern = r"(?<!\w)(?:" + "|".join(map(re.escape, variants)) + r")(?!\w)"
    return re.sub(pattern, lambda m: settings.canonical[m.group()], folded)


@pytest.mark.parametrize("text", [
    "the u.s.-led coalition and the u. s. envoy", "united states's united statesman",
    "recep tayyip erdogan met tayyip erdogan and erdogan", "al-sarraj, el-sarraj and sarraj",
    "kilometers km kms 5km programmes program_ labor laboratory",
    "u.n.u.n. u.n.x united nations united nations", "gadhafi's qaddafi-era kadhafi_1",
    "disunited states", "u.a.e. u.a.e united arab emirates'", "",
])
def test_variants_are_replaced_where_a_pattern_of_whole_words_would(text: str) -> None:
    folded = fold(text)
    assert _canonical_variants(folded, SETTINGS.variants, SETTINGS.canonical) == \
        _variants_by_pattern(folded)


def test_where_variants_overlap_the_longest_standing_alone_wins(tmp_path: Path) -> None:
    settings = load_story_settings(_settings_file(tmp_path, {"normalize.equivalences": {
        "uk": ["great britain", "britain"], "gb": ["great"], "erdogan": ["recep tayyip"]}}))
    for text in ("great britain, great-britain", "greatest britain", "great britains great",
                 "recep tayyip erdogan", "great britain britain"):
        assert _canonical_variants(text, settings.variants, settings.canonical) == \
            _variants_by_pattern(text, settings)
    assert story_words("", "Great Britain and great Britons", settings) == ["uk", "gb", "britons"]


def test_variants_in_every_mix_are_replaced_as_a_pattern_would() -> None:
    pieces = [v for v, _ in SETTINGS.equivalences] + [" ", ".", "-", "_", "a", "é", "1", "\n",
                                                     "u", "n", "s", "united", "nations"]
    mixes = ["".join(combo) for combo in itertools.product(pieces[:40], [" ", "", "."], pieces)]
    assert [_canonical_variants(m, SETTINGS.variants, SETTINGS.canonical) for m in mixes] == \
        [_variants_by_pattern(m) for m in mixes]


def test_band_keys_name_the_band_and_hold_its_values() -> None:
    sig = tuple(range(SETTINGS.num_perm))
    keys = band_keys(sig)
    assert len(keys) == SETTINGS.bands == 32
    assert keys[0] == "0:00000000000000010000000200000003"
    assert keys[31] == "31:0000007c0000007d0000007e0000007f"
    assert len(set(band_keys(signature(PINNED)))) == SETTINGS.bands


def test_band_keys_refuse_a_signature_of_other_settings() -> None:
    with pytest.raises(ValueError, match="signature has 64 values, the settings expect 128"):
        band_keys(tuple(range(64)))


def test_similarity_is_the_share_of_equal_positions() -> None:
    a = tuple(range(128))
    b = a[:32] + tuple(v + 1000 for v in a[32:])
    assert similarity(a, a) == 1.0
    assert similarity(a, b) == 0.25
    with pytest.raises(ValueError, match="cannot compare signatures of 128 and 3 values"):
        similarity(a, (1, 2, 3))


# --- settings ------------------------------------------------------------------------------


def _settings_file(tmp_path: Path, change: dict[str, Any]) -> Path:
    data = yaml.safe_load((ROOT / "transforms" / "data" / "stories.yaml").read_text())
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    path = tmp_path / "stories.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize("change, message", [
    ({"minhash.rows": 5}, "minhash: bands x rows (32 x 5) exceeds num_perm (128)"),
    ({"threshold": 1.5}, "threshold: expected a number in (0, 1], got 1.5"),
    ({"shingle_words": 0}, "shingle_words: expected an integer >= 1, got 0"),
    ({"stop_words.en": ["the", False]}, "stop_words.en[1]: expected a word, got False"),
    ({"normalize.remove": [{"pattern": "(unclosed", "why": "x"}]},
     "normalize.remove[0].pattern: invalid regular expression"),
    ({"normalize.equivalences.gaddafi": ["u.n."]},
     "normalize.equivalences.un[0]: 'u.n.' is already a variant of 'gaddafi'"),
    ({"shingles": 3}, "top level: unknown field(s) ['shingles']"),
])
def test_a_broken_settings_file_names_the_place(tmp_path: Path, change: dict[str, Any],
                                                 message: str) -> None:
    path = _settings_file(tmp_path, change)
    with pytest.raises(StorySettingsError) as error:
        load_story_settings(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


# --- deciding stories ----------------------------------------------------------------------


def _story_of(decisions) -> dict[str, tuple[str, str | None]]:
    return {d.key[0]: (d.story_id, d.duplicate_of) for d in decisions}


def test_the_decisions_do_not_depend_on_the_order_of_the_input() -> None:
    cases = {c["name"]: c for c in CASES["copies"]}
    first = original("watiya", published=DAY.format("09:00"))
    copy = syndicated(cases["changed dateline"], published=DAY.format("11:00"))
    other = replace(syndicated(cases["web republication (headline, no dateline, UN, last paragraph "
                                     "and credits cut)"], published=DAY.format("11:00")),
                    id="copy-b")
    distinct = original("watiya_other_agency", published=DAY.format("10:00"))
    entries = [story_entry(a) for a in (first, copy, other, distinct)]
    results = {assign_stories(order) for order in itertools.permutations(entries)}
    assert len(results) == 1
    assert _story_of(results.pop().decisions) == {
        first.id: (first.id, None), distinct.id: (distinct.id, None),
        copy.id: (first.id, first.id), "copy-b": (first.id, first.id)}


def test_the_earliest_document_heads_the_story_and_ties_go_to_the_smaller_id() -> None:
    base = original("contractors")
    same_time = [replace(base, id=i, content_hash=f"h-{i}") for i in ("b", "a", "c")]
    decisions = assign_stories([story_entry(a) for a in same_time]).decisions
    assert _story_of(decisions) == {"a": ("a", None), "b": ("a", "a"), "c": ("a", "a")}
    earlier = replace(base, id="z", content_hash="h-z", published=DAY.format("08:00"))
    decisions = assign_stories([story_entry(a) for a in [*same_time, earlier]]).decisions
    assert _story_of(decisions)["z"] == ("z", None)
    assert {story for story, _ in _story_of(decisions).values()} == {"z"}


def test_a_copy_of_a_copy_joins_the_first_story() -> None:
    first = original("watiya", published=DAY.format("09:00"))
    copy = replace(first, id="copy", content_hash="h-copy", published=DAY.format("10:00"),
                   text=first.text.replace("U.N.", "UN"))
    # The second copy is close to the first copy, and reaches the story through it.
    copy_of_copy = replace(copy, id="copy-2", content_hash="h-copy-2", published=DAY.format("11:00"),
                           title="GNA takes Watiya")
    decisions = assign_stories([story_entry(a) for a in (copy_of_copy, copy, first)]).decisions
    assert _story_of(decisions) == {"watiya": ("watiya", None), "copy": ("watiya", "watiya"),
                                    "copy-2": ("watiya", "watiya")}


def _stories_pair_by_pair(entries: list[StoryEntry]) -> dict[str, tuple[str, str | None]]:
    """The rule stated plainly: in (published, id) order, an entry joins the story of the
    most similar earlier entry it shares a band key with, if similar enough."""
    ordered = sorted(entries, key=lambda e: (e.published, e.id, e.key[1]))
    story: dict[tuple[str, str], str] = {}
    result = {}
    for i, entry in enumerate(ordered):
        best = None
        for other in ordered[:i]:
            if not set(entry.bands) & set(other.bands):
                continue
            sim = similarity(entry.signature, other.signature)
            if sim >= SETTINGS.threshold and (
                    best is None or (-sim, story[other.key]) < (-best[0], best[1])):
                best = (sim, story[other.key])
        story[entry.key] = best[1] if best else entry.id
        result[entry.id] = (story[entry.key], best[1] if best else None)
    return result


def test_a_run_is_grouped_as_comparing_every_pair_sharing_a_band_key_would() -> None:
    docs = [original(name, published=DAY.format(f"{8 + i % 4:02d}:{i:02d}"))
            for i, name in enumerate(CASES["articles"])]
    for i, case in enumerate(CASES["copies"]):
        copy = syndicated(case, published=DAY.format(f"{9 + i % 3:02d}:{30 + i:02d}"))
        docs.append(replace(copy, id=f"copy-{i}", content_hash=f"h-copy-{i}"))
    for i, doc in enumerate(list(docs)):  # copies of copies: a paragraph cut, then another
        parts = doc.text.split("\n\n")
        for cut in range(1, min(3, len(parts))):
            docs.append(replace(doc, id=f"{doc.id}-cut{cut}", content_hash=f"{doc.id}-cut{cut}",
                                text="\n\n".join(parts[cut:]),
                                published=DAY.format(f"{12 + cut:02d}:{i % 60:02d}")))
    entries = [story_entry(doc) for doc in docs]
    decided = _story_of(assign_stories(entries).decisions)
    assert decided == _stories_pair_by_pair(entries)
    assert sum(1 for _, duplicate_of in decided.values() if duplicate_of) > len(docs) // 2


def _entry(doc_id: str, sig: list[int], time: str) -> StoryEntry:
    return StoryEntry(key=(doc_id, f"h-{doc_id}"), id=doc_id, published=DAY.format(time),
                      outlet="wire.example", feed_url=None, signature=tuple(sig),
                      bands=tuple(band_keys(sig)))


def test_a_pair_is_compared_when_it_shares_any_one_band_and_only_then() -> None:
    rng = random.Random(7)
    rows, bands = SETTINGS.rows, SETTINGS.bands
    entries = []
    for shared in [*range(bands), None]:  # None: a pair as close, sharing no band
        base = [rng.randrange(1 << 32) for _ in range(SETTINGS.num_perm)]
        copy = list(base)
        for band in range(bands):
            if band != shared:
                copy[band * rows] ^= 1  # one value differs: the band is not shared
        name = "apart" if shared is None else f"band{shared}"
        entries += [_entry(f"{name}-a", base, "09:00"), _entry(f"{name}-b", copy, "10:00")]
    decided = _story_of(assign_stories(entries).decisions)
    for shared in range(bands):
        assert decided[f"band{shared}-b"] == (f"band{shared}-a", f"band{shared}-a")
    assert decided["apart-b"] == ("apart-b", None)


def test_the_head_of_a_new_story_counts_its_outlets_and_documents() -> None:
    first = original("watiya", outlet="wire.example", published=DAY.format("09:00"))
    copies = [replace(first, id=f"c{i}", content_hash=f"h{i}", outlet=outlet,
                      published=DAY.format("10:00"))
              for i, outlet in enumerate(["b.example", "a.example", "b.example", None])]
    decisions = assign_stories([story_entry(a) for a in (first, *copies)]).decisions
    head = next(d for d in decisions if d.key[0] == first.id)
    assert head.story_outlets == ("a.example", "b.example", "wire.example")
    assert head.story_size == 5
    assert all(d.story_outlets is None and d.story_size is None for d in decisions if d is not head)


def _candidate(of: Article, doc_id: str, story_id: str, outlet: str = "old.example") -> StoryCandidate:
    return StoryCandidate(id=doc_id, story_id=story_id, minhash=signature(of), outlet=outlet)


def test_a_copy_joins_an_earlier_runs_story_and_its_head_is_updated() -> None:
    earlier = original("wagner_report")
    copy = syndicated(CASES["copies"][1], outlet="new.example")  # U.N. written UN
    unrelated = original("contractors")
    result = assign_stories([story_entry(copy), story_entry(unrelated)],
                            {copy.id: [_candidate(earlier, "old-copy", "old-head")]})
    assert _story_of(result.decisions) == {copy.id: ("old-head", "old-head"),
                                           unrelated.id: (unrelated.id, None)}
    assert [(u.head_id, u.member_id, u.outlet) for u in result.head_updates] == [
        ("old-head", copy.id, "new.example")]


def test_earlier_candidates_below_the_threshold_or_from_this_run_are_ignored() -> None:
    copy = original("watiya")
    other = original("watiya_other_agency")
    result = assign_stories([story_entry(copy)], {copy.id: [
        _candidate(other, "old", "old-head"),                  # another report of the event
        _candidate(copy, copy.id, "old-head"),                 # the document itself
        StoryCandidate("legacy", "legacy", (), "old.example"),  # indexed without a signature
    ]})
    assert _story_of(result.decisions) == {copy.id: (copy.id, None)}
    assert result.head_updates == ()


def test_the_best_matching_story_wins() -> None:
    first = original("watiya")
    near = replace(first, text=first.text.replace("U.N.", "UN"))
    farther = syndicated(CASES["copies"][7])  # web republication
    result = assign_stories([story_entry(first)], {first.id: [
        _candidate(farther, "far", "story-a"), _candidate(near, "near", "story-b")]})
    assert _story_of(result.decisions) == {first.id: ("story-b", "story-b")}


# --- AssignStories -------------------------------------------------------------------------


def _projection(article: Article) -> tuple:
    extra = article.extra
    assert extra["minhash_bands"] == band_keys(tuple(extra["minhash"] or ()))
    return (article.id, extra["story_id"], extra["duplicate_of"],
            tuple(extra.get("story_outlets", ())) or None, extra.get("story_size"))


def test_assign_stories_without_elasticsearch_groups_copies_within_the_input() -> None:
    cases = {c["name"]: c for c in CASES["copies"]}
    first = original("watiya", outlet="wire.example", published=DAY.format("09:00"))
    copy = syndicated(cases["changed dateline"], outlet="daily.example",
                      published=DAY.format("10:00"))
    later_copy = replace(syndicated(cases["a different headline"], outlet="news.example"),
                         id="copy-irini")
    irini = original("irini_tanker", outlet="wire.example", published=DAY.format("08:00"))
    distinct = original("watiya_other_agency", outlet="agency.example")
    short = article("short", "Libya", "Clashes in Tripoli.")
    inputs = [later_copy, distinct, copy, short, first, irini]

    p = BeamTestPipeline()
    stories = p | beam.Create(inputs) | AssignStories()
    assert_that(stories.articles | beam.Map(_projection), equal_to([
        (first.id, first.id, None, ("daily.example", "wire.example"), 2),
        (copy.id, first.id, first.id, None, None),
        (irini.id, irini.id, None, ("news.example", "wire.example"), 2),
        ("copy-irini", irini.id, irini.id, None, None),
        (distinct.id, distinct.id, None, ("agency.example",), 1),
        ("short", "short", None, ("wire.example",), 1),
    ]), label="Stories")
    assert_that(stories.dead_letter, equal_to([]), label="NoDeadLetters")
    result = p.run()
    result.wait_until_finish()
    assert read_counters(result)["near_duplicates"] == 2


def test_assign_stories_refuses_input_that_is_not_deduplicated() -> None:
    first = original("watiya")
    with pytest.raises(Exception, match="came twice; the input must be exactly deduplicated"):
        with BeamTestPipeline() as p:
            _ = p | beam.Create([first, first]) | AssignStories()


def test_assign_stories_needs_an_alias_with_elasticsearch() -> None:
    with pytest.raises(ValueError, match="needs the alias"):
        AssignStories(lambda: None)


# --- Elasticsearch -------------------------------------------------------------------------


def _factory(es_server) -> Any:
    return functools.partial(make_client, EsSettings(url=es_server.url))


@pytest.mark.es
def test_a_copy_in_a_later_run_joins_the_earlier_runs_story(
        es_server, es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    mapping = es_client.indices.get_mapping(index=es_alias)
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert properties["minhash"] == {"type": "object", "enabled": False}
    assert properties["minhash_bands"]["type"] == "keyword"

    cases = {c["name"]: c for c in CASES["copies"]}
    first = original("wagner_report", outlet="wire.example", published=DAY.format("09:00"))
    same_run_copy = syndicated(cases["U.N. written UN"], outlet="daily.example",
                               published=DAY.format("10:00"))
    with BeamTestPipeline() as p:
        run_1 = p | "Run1" >> beam.Create([same_run_copy, first]) | AssignStories(
            _factory(es_server), es_alias)
        _ = run_1.articles | WriteToElasticsearch(_factory(es_server), es_alias, "run-1")
    es_client.indices.refresh(index=es_alias)
    head = es_client.get(index=es_alias, id=first.id)["_source"]
    assert (head["story_id"], head["duplicate_of"], head["story_outlets"], head["story_size"]) == (
        first.id, None, ["daily.example", "wire.example"], 2)
    assert head["minhash_bands"] == band_keys(tuple(head["minhash"]))

    later_copy = replace(syndicated(cases["French-agency spellings (Kadhafi, UN, United Nations)"],
                                    outlet="agency.example", published="2020-05-20T08:00:00Z"),
                         id="copy-next-day")
    unrelated = original("turkish_mandate", published="2020-05-20T09:00:00Z")
    p = BeamTestPipeline()
    run_2 = p | "Run2" >> beam.Create([later_copy, unrelated]) | AssignStories(
        _factory(es_server), es_alias)
    assert_that(run_2.articles | beam.Map(_projection), equal_to([
        ("copy-next-day", first.id, first.id, None, None),
        (unrelated.id, unrelated.id, None, ("wire.example",), 1),
    ]))
    result = p.run()
    result.wait_until_finish()
    counters = read_counters(result)
    assert (counters["near_duplicates_of_earlier_runs"], counters["story_heads_updated"]) == (1, 1)
    head = es_client.get(index=es_alias, id=first.id)["_source"]
    assert (head["story_outlets"], head["story_size"]) == (
        ["agency.example", "daily.example", "wire.example"], 3)


def _index_directly(client: Elasticsearch, alias: str, articles: list[Article]) -> None:
    docs = []
    for a in articles:
        entry: StoryEntry = story_entry(a)
        docs.append((a.id, {**a.to_document(), "story_id": a.id, "duplicate_of": None,
                            "minhash": list(entry.signature), "minhash_bands": list(entry.bands)}))
    assert bulk_create(client, alias, docs).created == [a.id for a in articles]
    client.indices.refresh(index=alias)


# 1: the batch's search has too many hits, so each document is looked up on its own.
BATCH_HITS = pytest.mark.parametrize("batch_hits", [10_000, 1])


@pytest.mark.es
@BATCH_HITS
def test_candidates_are_found_by_band_key_for_each_document_of_a_batch(
        es_client: Elasticsearch, es_alias: str, batch_hits: int) -> None:
    ensure_index(es_client, es_alias)
    watiya, wagner = original("watiya"), original("wagner_report")
    _index_directly(es_client, es_alias, [watiya, wagner, original("contractors")])
    cases = {c["name"]: c for c in CASES["copies"]}
    wanted = {"w-copy": story_entry(syndicated(cases["changed dateline"])).bands,
              "u-copy": story_entry(syndicated(cases["U.N. written UN"])).bands,
              "none": story_entry(original("irini_tanker")).bands}
    for max_hits in (10, 1):  # each copy shares keys with its original only
        found = find_story_candidates(es_client, es_alias, wanted, max_hits=max_hits,
                                      batch_hits=batch_hits)
        assert {doc: [c.id for c in cs] for doc, cs in found.items()} == {
            "w-copy": [watiya.id], "u-copy": [wagner.id], "none": []}
    candidate = found["w-copy"][0]
    assert (candidate.story_id, candidate.outlet) == (watiya.id, "wire.example")
    assert candidate.minhash == signature(watiya)


@pytest.mark.es
@BATCH_HITS
def test_at_most_max_hits_candidates_those_sharing_most_keys(es_client: Elasticsearch,
                                                             es_alias: str, batch_hits: int) -> None:
    ensure_index(es_client, es_alias)
    watiya, wagner, contractors = (original(name) for name in
                                   ("watiya", "wagner_report", "contractors"))
    _index_directly(es_client, es_alias, [watiya, wagner, contractors])
    bands = {a.id: story_entry(a).bands for a in (watiya, wagner, contractors)}
    # Three keys of Wagner's report, two of al-Watiya's, one of the contractors piece.
    keys = bands[wagner.id][:3] + bands[watiya.id][:2] + bands[contractors.id][:1]
    known: dict = {}

    def ids(max_hits: int) -> list[str]:
        found = find_story_candidates(es_client, es_alias, {"new": keys}, max_hits=max_hits,
                                      known=known, batch_hits=batch_hits)
        return [c.id for c in found["new"]]

    assert ids(1) == [wagner.id]
    assert ids(2) == sorted([wagner.id, watiya.id])
    assert ids(3) == sorted([wagner.id, watiya.id, contractors.id])
    # Every candidate read was kept, with its signature, for the next batch.
    assert {c.id: c.minhash for c in known.values()} == {
        a.id: signature(a) for a in (watiya, wagner, contractors)}


@pytest.mark.es
def test_candidates_before_the_index_exists_are_none(es_client: Elasticsearch, es_alias: str) -> None:
    assert find_story_candidates(es_client, es_alias, {"a": ["0:00"]}) == {"a": []}


@pytest.mark.es
def test_concurrent_writers_each_add_their_outlets_to_a_story(
        es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    head = original("watiya", outlet="wire.example")
    _index_directly(es_client, es_alias, [head])  # indexed without story fields: a story of one
    failures: list[BaseException] = []

    def add(prefix: str) -> None:
        try:
            for n in range(20):
                add_outlet_to_story(es_client, es_alias, head.id, f"{prefix}-{n:02d}.example",
                                    f"{prefix}-doc-{n:02d}")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=add, args=(prefix,)) for prefix in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = es_client.get(index=es_alias, id=head.id)["_source"]
    assert stored["story_outlets"] == sorted(
        ["wire.example"] + [f"{p}-{n:02d}.example" for p in ("alpha", "beta") for n in range(20)])
    assert stored["story_size"] == 41
    assert stored["minhash"] == list(signature(head))  # the rest of the document is kept


@pytest.mark.es
def test_updating_a_missing_story_head_is_an_error(es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    with pytest.raises(StoryUpdateError, match=f"story 'gone' in '{es_alias}'.*not in the index"):
        add_outlet_to_story(es_client, es_alias, "gone", "wire.example", "copy-1")


@pytest.mark.es
def test_adding_the_same_member_twice_counts_it_once(es_client: Elasticsearch, es_alias: str) -> None:
    ensure_index(es_client, es_alias)
    head = original("watiya", outlet="wire.example")
    _index_directly(es_client, es_alias, [head])
    for _ in range(2):  # a retried bundle repeats the update
        add_outlet_to_story(es_client, es_alias, head.id, "copy.example", "copy-1")
    source = es_client.get(index=f"{es_alias}-000001", id=head.id)["_source"]
    assert source["story_size"] == 2
    assert source["story_outlets"] == ["copy.example", "wire.example"]
